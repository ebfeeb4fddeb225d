//go:build !linux || citylog_portable

package durable

import "os"

// needDirSync is true: Sync must fsync the directories a batch changed.
const needDirSync = true

func (b *Batch) createNew(path string, data []byte, perm os.FileMode) error {
	return b.createPortable(path, data, perm)
}

// fill writes and fsyncs a Put's temporary file before it is renamed.
func (b *Batch) fill(f *os.File, data []byte, perm os.FileMode) error {
	return writeAndSync(f, data, perm)
}

// sync fsyncs the directories whose entries the batch changed: the files
// themselves were fsynced before they got their names.
func (b *Batch) sync() error { return b.syncTouched() }

func syncData(f *os.File) error { return f.Sync() }

func scratch(dir string) (*os.File, error) { return scratchFile(dir) }
