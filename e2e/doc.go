// Package e2e holds the browser end-to-end tests of the web pages (see e2e_test.go).
package e2e
