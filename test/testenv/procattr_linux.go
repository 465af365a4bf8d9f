package testenv

import "syscall"

// ChildProcAttr has the kernel send the child SIGTERM if its parent dies
// without cleaning up (SIGKILL skips every deferred stop), and puts it in
// its own process group when ownGroup is set.
func ChildProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGTERM}
}
