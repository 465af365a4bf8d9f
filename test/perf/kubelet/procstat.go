package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// usage is one process's CPU time (clock ticks) and resident memory.
type usage struct {
	ticks int64
	rssKB int64
}

// sample reads the CPU time and RSS of this program's children (the cluster
// and the binary), summed by program name.
func sample() map[string]usage {
	out := map[string]usage{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// comm may hold spaces: the fields that follow start after its ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(fields) < 13 || fields[1] != me {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		name := filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0])
		u := out[name]
		u.ticks += utime + stime
		u.rssKB += rss(e.Name())
		out[name] = u
	}
	return out
}

func rss(pid string) int64 {
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb
		}
	}
	return 0
}

// report prints CPU per pod and RSS at the end by process.
func report(before, after map[string]usage, pods int) {
	const ticksPerSecond = 100 // USER_HZ on Linux
	names := make([]string, 0, len(after))
	for n := range after {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Printf("%-26s %14s %12s\n", "process", "CPU ms/pod", "RSS MiB")
	var total float64
	for _, n := range names {
		ms := float64(after[n].ticks-before[n].ticks) * 1000 / ticksPerSecond / float64(pods)
		total += ms
		fmt.Printf("%-26s %14.2f %12.1f\n", n, ms, float64(after[n].rssKB)/1024)
	}
	fmt.Printf("%-26s %14.2f\n", "all", total)
}
