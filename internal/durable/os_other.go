//go:build !windows

package durable

import "os"

// replace renames old over new.
func replace(old, new string) error { return os.Rename(old, new) }

// linkNoReplace gives old's file the name new too, failing with an error
// wrapping fs.ErrExist if new exists; the caller removes old.
func linkNoReplace(old, new string) error { return os.Link(old, new) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// scratchFile creates a file and removes its name at once: it lives on
// while open.
func scratchFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".scratch-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
