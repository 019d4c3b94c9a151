//go:build unix

package main

import "syscall"

// fdLimit is the process's file-descriptor limit (Go raises the soft limit
// to the hard one at start); 0 when unknown.
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 0
	}
	return int(l.Cur)
}
