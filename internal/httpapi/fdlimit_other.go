//go:build !unix

package httpapi

func fdLimit() int { return 0 }
