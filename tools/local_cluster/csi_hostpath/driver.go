package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

const vendorVersion = "0.1.0"

// Config is everything the driver needs; main.go fills it from flags.
type Config struct {
	DriverName        string
	NodeID            string
	VolumesDir        string
	SnapshotsDir      string
	MaxVolumesPerNode int64
}

// Driver implements the CSI Identity, Controller and Node services.
type Driver struct {
	cfg   Config
	store *Store

	// ctrlMu serializes controller operations. It is released while an
	// injected delay sleeps and while data is copied (archive, restore,
	// clone); the busy/pending maps below keep those windows consistent.
	ctrlMu sync.Mutex
	// pending names (kind+":"+name) of volumes/snapshots being created.
	pending map[string]bool
	// busy counts in-progress copies reading from a volume id.
	busy map[string]int

	// nodeMu serializes node publish/unpublish.
	nodeMu sync.Mutex
}

// NewDriver validates cfg and opens the metadata store.
func NewDriver(cfg Config) (*Driver, error) {
	if cfg.DriverName == "" {
		return nil, errors.New("driver name must be set")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("node id must be set")
	}
	if cfg.MaxVolumesPerNode < 0 {
		return nil, errors.New("max volumes per node must not be negative")
	}
	st, err := OpenStore(cfg.VolumesDir, cfg.SnapshotsDir)
	if err != nil {
		return nil, err
	}
	return &Driver{cfg: cfg, store: st, pending: map[string]bool{}, busy: map[string]int{}}, nil
}

// NewCSIServer returns a gRPC server with the three CSI services registered
// and one log line per call.
func (d *Driver) NewCSIServer() *grpc.Server {
	srv := grpc.NewServer(grpc.UnaryInterceptor(logCalls))
	csi.RegisterIdentityServer(srv, &identityServer{d: d})
	csi.RegisterControllerServer(srv, &controllerServer{d: d})
	csi.RegisterNodeServer(srv, &nodeServer{d: d})
	return srv
}

// logCalls logs method, key ids, duration and the resulting error.
func logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	method := info.FullMethod
	if i := strings.LastIndex(method, "/"); i >= 0 {
		method = method[i+1:]
	}
	ids := requestIDs(req)
	dur := time.Since(start).Round(time.Microsecond)
	if err != nil {
		st := status.Convert(err)
		log.Printf("csi: %s%s took=%v error=%s: %s", method, ids, dur, st.Code(), st.Message())
	} else {
		log.Printf("csi: %s%s took=%v ok", method, ids, dur)
	}
	return resp, err
}

func requestIDs(req any) string {
	var b strings.Builder
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	if r, ok := req.(interface{ GetName() string }); ok {
		add("name", r.GetName())
	}
	if r, ok := req.(interface{ GetVolumeId() string }); ok {
		add("volume", r.GetVolumeId())
	}
	if r, ok := req.(interface{ GetSourceVolumeId() string }); ok {
		add("source_volume", r.GetSourceVolumeId())
	}
	if r, ok := req.(interface{ GetSnapshotId() string }); ok {
		add("snapshot", r.GetSnapshotId())
	}
	if r, ok := req.(interface{ GetTargetPath() string }); ok {
		add("target", r.GetTargetPath())
	}
	if r, ok := req.(interface{ GetVolumePath() string }); ok {
		add("path", r.GetVolumePath())
	}
	if r, ok := req.(interface {
		GetVolumeContentSource() *csi.VolumeContentSource
	}); ok {
		if cs := r.GetVolumeContentSource(); cs != nil {
			add("from_snapshot", cs.GetSnapshot().GetSnapshotId())
			add("from_volume", cs.GetVolume().GetVolumeId())
		}
	}
	return b.String()
}

// socketPath turns an endpoint ("unix:///p", "unix:/p" or "/p") into a
// filesystem path.
func socketPath(endpoint string) (string, error) {
	if strings.HasPrefix(endpoint, "/") {
		return filepath.Clean(endpoint), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("bad endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "unix" {
		return "", fmt.Errorf("bad endpoint %q: only unix:// sockets are supported", endpoint)
	}
	p := u.Path
	if p == "" {
		p = u.Opaque
	}
	if p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("bad endpoint %q: want an absolute socket path", endpoint)
	}
	return filepath.Clean(p), nil
}

// listenUnix listens on path, removing a stale socket left by a previous run.
// maxSocketPath is the longest path a unix socket may have on Linux (sun_path less its NUL).
const maxSocketPath = 107

func listenUnix(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, and a unix socket path may have at most %d: choose a shorter directory or name", path, len(path), maxSocketPath)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}
