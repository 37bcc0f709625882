package dashboard

import (
	"embed"
	"io/fs"
)

//go:embed web
var webFS embed.FS

// Web returns the embedded web pages.
func Web() fs.FS {
	sub, err := fs.Sub(webFS, "web")
	if err != nil { // "web" is embedded above, so this cannot happen
		panic(err)
	}
	return sub
}
