//go:build unix && !linux

package testenv

import "syscall"

// ChildProcAttr puts the child in its own process group when ownGroup is
// set. There is no parent-death signal outside Linux: a parent killed with
// SIGKILL leaves its children running.
func ChildProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}
