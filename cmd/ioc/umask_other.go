//go:build !unix

package main

// restrictUmask does nothing where there is no umask; internal/app still creates and tightens the
// data files owner-only.
func restrictUmask() {}
