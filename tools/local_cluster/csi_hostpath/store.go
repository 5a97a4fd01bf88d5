package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
type Store struct {
	volDir  string
	snapDir string

	mu    sync.RWMutex
	vols  map[string]*VolumeMeta
	snaps map[string]*SnapshotMeta
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
	s := &Store{
		volDir:  volDir,
		snapDir: snapDir,
		vols:    map[string]*VolumeMeta{},
		snaps:   map[string]*SnapshotMeta{},
	}
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

	volFiles, err := filepath.Glob(filepath.Join(s.volDir, "*"+metaSuffix))
	if err != nil {
		return err
	}
	for _, f := range volFiles {
		var v VolumeMeta
		if err := readJSON(f, &v); err != nil {
			log.Printf("store: WARNING: skipping unreadable volume metadata %s: %v", f, err)
			continue
		}
		if v.ID == "" || v.ID+metaSuffix != filepath.Base(f) {
			log.Printf("store: WARNING: skipping volume metadata %s: id %q does not match file name", f, v.ID)
			continue
		}
		if fi, err := os.Stat(s.VolumePath(v.ID)); err != nil || !fi.IsDir() {
			log.Printf("store: WARNING: volume %s has metadata but no directory; ignoring it", v.ID)
			continue
		}
		s.vols[v.ID] = &v
	}

	snapFiles, err := filepath.Glob(filepath.Join(s.snapDir, "*"+metaSuffix))
	if err != nil {
		return err
	}
	for _, f := range snapFiles {
		var sn SnapshotMeta
		if err := readJSON(f, &sn); err != nil {
			log.Printf("store: WARNING: skipping unreadable snapshot metadata %s: %v", f, err)
			continue
		}
		if sn.ID == "" || sn.ID+metaSuffix != filepath.Base(f) {
			log.Printf("store: WARNING: skipping snapshot metadata %s: id %q does not match file name", f, sn.ID)
			continue
		}
		if fi, err := os.Stat(s.SnapshotPath(sn.ID)); err != nil || !fi.Mode().IsRegular() {
			log.Printf("store: WARNING: snapshot %s has metadata but no archive; ignoring it", sn.ID)
			continue
		}
		s.snaps[sn.ID] = &sn
	}
	log.Printf("store: loaded %d volumes from %s, %d snapshots from %s", len(s.vols), s.volDir, len(s.snaps), s.snapDir)
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
func (s *Store) GetVolume(id string) (VolumeMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vols[id]
	if !ok {
		return VolumeMeta{}, false
	}
	return *v, true
}

// VolumeByName finds a volume by its CSI name.
func (s *Store) VolumeByName(name string) (VolumeMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.vols {
		if v.Name == name {
			return *v, true
		}
	}
	return VolumeMeta{}, false
}

// ListVolumes returns all volumes in a stable order (creation time, then id).
func (s *Store) ListVolumes() []VolumeMeta {
	s.mu.RLock()
	out := make([]VolumeMeta, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, *v)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// PutVolume persists the metadata; the volume directory must already be in place.
func (s *Store) PutVolume(v VolumeMeta) error {
	if err := writeJSONAtomic(filepath.Join(s.volDir, v.ID+metaSuffix), v); err != nil {
		return err
	}
	s.mu.Lock()
	s.vols[v.ID] = &v
	s.mu.Unlock()
	return nil
}

// DeleteVolume removes metadata and data. Missing volumes are not an error.
func (s *Store) DeleteVolume(id string) error {
	s.mu.Lock()
	_, known := s.vols[id]
	s.mu.Unlock()
	if !known {
		return nil
	}
	trash := filepath.Join(s.volDir, trashPrefix+id)
	if err := os.Rename(s.VolumePath(id), trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(filepath.Join(s.volDir, id+metaSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	delete(s.vols, id)
	s.mu.Unlock()
	syncDir(s.volDir)
	if err := os.RemoveAll(trash); err != nil {
		// The volume is gone from the driver's view; the leftover is removed at next start.
		log.Printf("store: WARNING: cannot remove %s: %v", trash, err)
	}
	return nil
}

// GetSnapshot returns a copy of the snapshot's metadata.
func (s *Store) GetSnapshot(id string) (SnapshotMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sn, ok := s.snaps[id]
	if !ok {
		return SnapshotMeta{}, false
	}
	return *sn, true
}

// SnapshotByName finds a snapshot by its CSI name.
func (s *Store) SnapshotByName(name string) (SnapshotMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sn := range s.snaps {
		if sn.Name == name {
			return *sn, true
		}
	}
	return SnapshotMeta{}, false
}

// ListSnapshots returns all snapshots in a stable order (creation time, then id).
func (s *Store) ListSnapshots() []SnapshotMeta {
	s.mu.RLock()
	out := make([]SnapshotMeta, 0, len(s.snaps))
	for _, sn := range s.snaps {
		out = append(out, *sn)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// PutSnapshot persists the metadata; the archive must already be in place.
func (s *Store) PutSnapshot(sn SnapshotMeta) error {
	if err := writeJSONAtomic(filepath.Join(s.snapDir, sn.ID+metaSuffix), sn); err != nil {
		return err
	}
	s.mu.Lock()
	s.snaps[sn.ID] = &sn
	s.mu.Unlock()
	return nil
}

// DeleteSnapshot removes metadata and archive. Missing snapshots are not an error.
func (s *Store) DeleteSnapshot(id string) error {
	s.mu.Lock()
	_, known := s.snaps[id]
	s.mu.Unlock()
	if !known {
		return nil
	}
	// Metadata first: without it, a leftover archive is never mistaken for a snapshot.
	if err := os.Remove(filepath.Join(s.snapDir, id+metaSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	delete(s.snaps, id)
	s.mu.Unlock()
	if err := os.Remove(s.SnapshotPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Printf("store: WARNING: cannot remove %s: %v", s.SnapshotPath(id), err)
	}
	syncDir(s.snapDir)
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
