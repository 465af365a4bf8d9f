package main

import "syscall"

// childProcAttr has the kernel send the child SIGTERM if the demo dies
// without cleaning up (SIGKILL skips every deferred stop), and puts it in its
// own process group when ownGroup is set (see startProcess).
func childProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGTERM}
}
