package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ticksPerSecond is USER_HZ on Linux, the unit of /proc/<pid>/stat times.
const ticksPerSecond = 100

// statFields returns the fields of /proc/<pid>/stat after the command name
// (which may hold spaces): fields[0] is the state, [2] the process group,
// [11] utime, [12] stime, [13] cutime, [14] cstime.
func statFields(pid string) []string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 15 {
		return nil
	}
	return f
}

func sumFields(f []string, idx ...int) int64 {
	var n int64
	for _, i := range idx {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		n += v
	}
	return n
}

// processTicks is the CPU time (user + system, all threads) of one process.
func processTicks(pid int) int64 {
	f := statFields(strconv.Itoa(pid))
	if f == nil {
		return 0
	}
	return sumFields(f, 11, 12)
}

// groupTicks is the CPU time of every live process of process group pgid,
// plus what their reaped children used (cutime, cstime): the Airflow
// api-server and the workers it forks.
func groupTicks(pgid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(pgid)
	var n int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		f := statFields(e.Name())
		if f == nil || f[2] != want {
			continue
		}
		n += sumFields(f, 11, 12, 13, 14)
	}
	return n
}
