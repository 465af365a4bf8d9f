//go:build unix && !linux

package main

import "syscall"

// childProcAttr puts the child in its own process group when ownGroup is set
// (see startProcess). There is no parent-death signal outside Linux: a demo
// killed with SIGKILL leaves its children running.
func childProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}
