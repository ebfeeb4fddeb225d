package durable

import (
	"os"
	"path/filepath"
)

// createPortable writes data to a temporary file, fsyncs it, and gives it
// its name only if the name is free (a hard link, or on Windows a move
// that does not replace), so readers never see a partial file and an
// existing one is never replaced. A crash may leave the temporary file,
// named .tmp-*, which the directory's owner may remove.
func (b *Batch) createPortable(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once moved
	if err := writeAndSync(f, data, perm); err != nil {
		return err
	}
	if err := linkNoReplace(tmp, path); err != nil {
		return err
	}
	b.touched(dir)
	return nil
}
