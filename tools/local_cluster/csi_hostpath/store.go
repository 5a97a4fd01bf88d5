package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// On-disk layout (see README.md):
//
//	<volumes-dir>/<volume-id>/        the volume's data (bind-mounted into pods)
//	<volumes-dir>/<volume-id>.json    VolumeMeta; written last, so its presence marks a complete volume
//	<volumes-dir>/.tmp-<volume-id>/   a volume being populated (restore/clone); renamed when done
//	<volumes-dir>/.trash-<volume-id>/ a volume being deleted
//	<snapshots-dir>/<snap-id>.tar     uncompressed tar of the source volume directory
//	<snapshots-dir>/<snap-id>.json    SnapshotMeta; written after the archive was renamed into place
//	<snapshots-dir>/.tmp-<snap-id>.tar an archive being written
//
// Leftover .tmp-* and .trash-* entries (from a crash) are removed at start-up.

const (
	tmpPrefix   = ".tmp-"
	trashPrefix = ".trash-"
	metaSuffix  = ".json"
	tarSuffix   = ".tar"
)

// VolumeMeta is the persisted record of one volume.
type VolumeMeta struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	CapacityBytes int64     `json:"capacityBytes"`
	CreatedAt     time.Time `json:"createdAt"`
	// At most one of these is set: where the content came from.
	SourceSnapshotID string `json:"sourceSnapshotId,omitempty"`
	SourceVolumeID   string `json:"sourceVolumeId,omitempty"`
}

// SnapshotMeta is the persisted record of one snapshot.
type SnapshotMeta struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	SourceVolumeID string    `json:"sourceVolumeId"`
	SizeBytes      int64     `json:"sizeBytes"`    // the source volume's capacity (restoreSize)
	ArchiveBytes   int64     `json:"archiveBytes"` // size of the .tar file
	CreatedAt      time.Time `json:"createdAt"`
}

// Store keeps volume and snapshot metadata in memory and on disk. Its methods
// are safe for concurrent use; callers serialize multi-step operations
// themselves (the controller holds its own mutex).
//
// The snapshots directory may be shared with other driver processes (a second
// cluster restoring the first one's snapshots): a snapshot another process wrote
// is found on a miss (Get) and by a listing, both of which read the directory.
// Deletions by another process are not noticed until this one restarts.
type Store struct {
	volDir  string
	snapDir string

	vols  *table[VolumeMeta]
	snaps *table[SnapshotMeta]
}

// OpenStore creates the directories if needed, cleans crash leftovers and loads
// all metadata.
func OpenStore(volDir, snapDir string) (*Store, error) {
	if volDir == "" || snapDir == "" {
		return nil, errors.New("volumes dir and snapshots dir must be set")
	}
	var err error
	if volDir, err = filepath.Abs(volDir); err != nil {
		return nil, err
	}
	if snapDir, err = filepath.Abs(snapDir); err != nil {
		return nil, err
	}
	if volDir == snapDir {
		return nil, errors.New("volumes dir and snapshots dir must differ")
	}
	for _, d := range []string{volDir, snapDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	s := &Store{volDir: volDir, snapDir: snapDir}
	s.vols = newTable[VolumeMeta]("volume", volDir, s.VolumePath, fs.FileInfo.IsDir)
	s.snaps = newTable[SnapshotMeta]("snapshot", snapDir, s.SnapshotPath, func(fi fs.FileInfo) bool { return fi.Mode().IsRegular() })
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	for _, dir := range []string{s.volDir, s.snapDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, trashPrefix) {
				log.Printf("store: removing leftover %s", filepath.Join(dir, n))
				if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
					log.Printf("store: WARNING: cannot remove %s: %v", filepath.Join(dir, n), err)
				}
			}
		}
	}
	for _, load := range []func() error{s.vols.discover, s.snaps.discover} {
		if err := load(); err != nil {
			return err
		}
	}
	log.Printf("store: loaded %d volumes from %s, %d snapshots from %s", s.vols.len(), s.volDir, s.snaps.len(), s.snapDir)
	return nil
}

// VolumePath is the data directory of a volume.
func (s *Store) VolumePath(id string) string { return filepath.Join(s.volDir, id) }

// VolumeTmpPath is where a volume is populated before being renamed into place.
func (s *Store) VolumeTmpPath(id string) string { return filepath.Join(s.volDir, tmpPrefix+id) }

// SnapshotPath is the archive of a snapshot.
func (s *Store) SnapshotPath(id string) string { return filepath.Join(s.snapDir, id+tarSuffix) }

// SnapshotTmpPath is where an archive is written before being renamed into place.
func (s *Store) SnapshotTmpPath(id string) string {
	return filepath.Join(s.snapDir, tmpPrefix+id+tarSuffix)
}

// GetVolume returns a copy of the volume's metadata.
func (s *Store) GetVolume(id string) (VolumeMeta, bool) { return s.vols.get(id) }

// VolumeByName finds a volume by its CSI name.
func (s *Store) VolumeByName(name string) (VolumeMeta, bool) { return s.vols.byName(name) }

// ListVolumes returns all volumes in a stable order (creation time, then id).
func (s *Store) ListVolumes() []VolumeMeta { return s.vols.list() }

// PutVolume persists the metadata; the volume directory must already be in place.
func (s *Store) PutVolume(v VolumeMeta) error { return s.vols.put(v) }

// DeleteVolume removes metadata and data. Missing volumes are not an error.
func (s *Store) DeleteVolume(id string) error {
	if _, known := s.vols.get(id); !known {
		return nil
	}
	trash := filepath.Join(s.volDir, trashPrefix+id)
	if err := os.Rename(s.VolumePath(id), trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := s.vols.remove(id); err != nil {
		return err
	}
	syncDir(s.volDir)
	if err := os.RemoveAll(trash); err != nil {
		// The volume is gone from the driver's view; the leftover is removed at next start.
		log.Printf("store: WARNING: cannot remove %s: %v", trash, err)
	}
	return nil
}

// GetSnapshot returns a copy of the snapshot's metadata; one that is not known
// yet is looked up in the snapshots directory (another process may have taken it).
func (s *Store) GetSnapshot(id string) (SnapshotMeta, bool) { return s.snaps.get(id) }

// SnapshotByName finds a snapshot by its CSI name.
func (s *Store) SnapshotByName(name string) (SnapshotMeta, bool) { return s.snaps.byName(name) }

// ListSnapshots returns all snapshots in a stable order (creation time, then
// id), including those other processes wrote into the directory.
func (s *Store) ListSnapshots() []SnapshotMeta { return s.snaps.list() }

// PutSnapshot persists the metadata; the archive must already be in place.
func (s *Store) PutSnapshot(sn SnapshotMeta) error { return s.snaps.put(sn) }

// DeleteSnapshot removes metadata and archive. Missing snapshots are not an error.
func (s *Store) DeleteSnapshot(id string) error {
	if _, known := s.snaps.get(id); !known {
		return nil
	}
	// Metadata first: without it, a leftover archive is never mistaken for a snapshot.
	if err := s.snaps.remove(id); err != nil {
		return err
	}
	if err := os.Remove(s.SnapshotPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Printf("store: WARNING: cannot remove %s: %v", s.SnapshotPath(id), err)
	}
	syncDir(s.snapDir)
	return nil
}

// record is the metadata of one volume or snapshot.
type record interface {
	VolumeMeta | SnapshotMeta
	key() string
	csiName() string
	created() time.Time
}

func (v VolumeMeta) key() string           { return v.ID }
func (v VolumeMeta) csiName() string       { return v.Name }
func (v VolumeMeta) created() time.Time    { return v.CreatedAt }
func (sn SnapshotMeta) key() string        { return sn.ID }
func (sn SnapshotMeta) csiName() string    { return sn.Name }
func (sn SnapshotMeta) created() time.Time { return sn.CreatedAt }

// table is one kind of record: <dir>/<id>.json, valid while its data
// (dataPath(id), accepted by dataOK) exists, with an in-memory copy of each.
type table[T record] struct {
	kind     string // for log lines
	dir      string
	dataPath func(id string) string
	dataOK   func(fs.FileInfo) bool

	mu    sync.RWMutex
	items map[string]T
}

func newTable[T record](kind, dir string, dataPath func(string) string, dataOK func(fs.FileInfo) bool) *table[T] {
	return &table[T]{kind: kind, dir: dir, dataPath: dataPath, dataOK: dataOK, items: map[string]T{}}
}

func (t *table[T]) metaPath(id string) string { return filepath.Join(t.dir, id+metaSuffix) }

func (t *table[T]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.items)
}

// read loads and checks one metadata file.
func (t *table[T]) read(path string) (T, error) {
	var r T
	if err := readJSON(path, &r); err != nil {
		return r, err
	}
	if r.key() == "" || r.key()+metaSuffix != filepath.Base(path) {
		return r, fmt.Errorf("id %q does not match the file name", r.key())
	}
	if fi, err := os.Stat(t.dataPath(r.key())); err != nil || !t.dataOK(fi) {
		return r, fmt.Errorf("%s %s has metadata but no data at %s", t.kind, r.key(), t.dataPath(r.key()))
	}
	return r, nil
}

// discover adds every complete record in the directory that is not known yet.
func (t *table[T]) discover() error {
	files, err := filepath.Glob(filepath.Join(t.dir, "*"+metaSuffix))
	if err != nil {
		return err
	}
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), metaSuffix)
		t.mu.RLock()
		_, known := t.items[id]
		t.mu.RUnlock()
		if known {
			continue
		}
		r, err := t.read(f)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // else deleted meanwhile
				log.Printf("store: WARNING: skipping %s metadata %s: %v", t.kind, f, err)
			}
			continue
		}
		t.add(r)
	}
	return nil
}

// add records r unless it is known already (a concurrent put or read won).
func (t *table[T]) add(r T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, known := t.items[r.key()]; !known {
		t.items[r.key()] = r
	}
}

// get returns the record; one not known yet is read from the directory.
func (t *table[T]) get(id string) (T, bool) {
	t.mu.RLock()
	r, ok := t.items[id]
	t.mu.RUnlock()
	if ok {
		return r, true
	}
	// Only plain file names: an id from a request must not reach outside the directory.
	if id == "" || id != filepath.Base(id) || strings.HasPrefix(id, ".") {
		return r, false
	}
	r, err := t.read(t.metaPath(id))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Printf("store: WARNING: %s %s: %v", t.kind, id, err)
		}
		return r, false
	}
	log.Printf("store: found %s %s in %s (written by another process)", t.kind, id, t.dir)
	t.add(r)
	return r, true
}

func (t *table[T]) byName(name string) (T, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, r := range t.items {
		if r.csiName() == name {
			return r, true
		}
	}
	var none T
	return none, false
}

// list returns every record, also those written by other processes, in a
// stable order (creation time, then id).
func (t *table[T]) list() []T {
	if err := t.discover(); err != nil {
		log.Printf("store: WARNING: cannot read %s: %v", t.dir, err)
	}
	t.mu.RLock()
	out := make([]T, 0, len(t.items))
	for _, r := range t.items {
		out = append(out, r)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if ci, cj := out[i].created(), out[j].created(); !ci.Equal(cj) {
			return ci.Before(cj)
		}
		return out[i].key() < out[j].key()
	})
	return out
}

// put persists r; its data must already be in place.
func (t *table[T]) put(r T) error {
	if err := writeJSONAtomic(t.metaPath(r.key()), r); err != nil {
		return err
	}
	t.mu.Lock()
	t.items[r.key()] = r
	t.mu.Unlock()
	return nil
}

// remove deletes the metadata file, then forgets the record.
func (t *table[T]) remove(id string) error {
	if err := os.Remove(t.metaPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	t.mu.Lock()
	delete(t.items, id)
	t.mu.Unlock()
	return nil
}

// newID returns a random identifier such as "vol-0123abcd...".
func newID(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return prefix + hex.EncodeToString(b)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSONAtomic writes v to a temporary file, fsyncs it and renames it over path.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+"meta-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	syncDir(dir)
	return nil
}

// syncDir fsyncs a directory so renames in it are durable (best effort).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
