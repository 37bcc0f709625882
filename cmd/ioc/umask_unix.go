//go:build unix

package main

import "syscall"

// restrictUmask makes every file ioc creates readable by its own user only (databases and their
// -wal/-shm/-journal files, photos, the spool, secrets): the data is citizens' contacts and password
// hashes.
func restrictUmask() { syscall.Umask(0o077) }
