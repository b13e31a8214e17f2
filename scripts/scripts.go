// Package scripts holds the qualification scripts that ship with qualdial,
// embedded in the binary: BANT in English and Russian, ANUM, CHAMP and
// FAINT. Each is a ready-made starting point for a campaign.
package scripts

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml prompts
var files embed.FS

// FS holds the shipped scripts as "<id>.yaml" at its root.
var FS fs.FS = files

// Prompts holds the shipped scripts' texts rendered to speech, in the layout
// of package prompt (voice/hash.ul), so calls need no TTS installed.
var Prompts fs.FS = mustSub(files, "prompts")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Names lists the shipped script files, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Read returns a shipped script's YAML by file name ("bant-en.yaml") or id
// ("bant-en").
func Read(name string) ([]byte, error) {
	if path.Ext(name) != ".yaml" {
		name += ".yaml"
	}
	return fs.ReadFile(files, name)
}
