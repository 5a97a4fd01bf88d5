// Command csi-hostpath is a small CSI driver for local development clusters:
// volumes are directories on the host, snapshots are tar archives. It runs as
// a host process next to the kubelet and the external-provisioner and
// external-snapshotter sidecars. See README.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
)

func main() {
	var (
		endpoint    = flag.String("endpoint", "unix:///run/csi-hostpath/csi.sock", "CSI endpoint (unix:///path/to/csi.sock)")
		driverName  = flag.String("driver-name", "hostpath.csi.inferno.ops", "CSI driver name")
		nodeID      = flag.String("node-id", "", "node id reported by NodeGetInfo (required)")
		volumesDir  = flag.String("volumes-dir", "/var/lib/csi-hostpath/volumes", "directory holding one directory per volume")
		snapsDir    = flag.String("snapshots-dir", "/var/lib/csi-hostpath/snapshots", "directory holding one tar archive per snapshot")
		regDir      = flag.String("registration-dir", "", "kubelet plugins_registry directory; when set, serve kubelet plugin registration on <dir>/<registration-socket-name>")
		regName     = flag.String("registration-socket-name", "", "file name of the registration socket (default <driver-name>-reg.sock); a unix socket path has at most 107 bytes")
		maxVolumes  = flag.Int64("max-volumes-per-node", 0, "max_volumes_per_node reported by NodeGetInfo (0 = unset)")
		stopTimeout = flag.Duration("shutdown-timeout", 10*time.Second, "how long to wait for in-flight calls on SIGTERM/SIGINT")
	)
	flag.Parse()
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if *regName == "" {
		*regName = *driverName + "-reg.sock"
	}
	if err := run(*endpoint, filepath.Join(*regDir, *regName), *stopTimeout, Config{
		DriverName:        *driverName,
		NodeID:            *nodeID,
		VolumesDir:        *volumesDir,
		SnapshotsDir:      *snapsDir,
		MaxVolumesPerNode: *maxVolumes,
	}); err != nil {
		log.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

type served struct {
	name   string
	srv    *grpc.Server
	lis    net.Listener
	socket string
}

// run serves the CSI socket, and the registration socket at regSock unless it is a bare file name.
func run(endpoint, regSock string, stopTimeout time.Duration, cfg Config) error {
	if cfg.NodeID == "" {
		return fmt.Errorf("--node-id is required")
	}
	csiSock, err := socketPath(endpoint)
	if err != nil {
		return err
	}
	d, err := NewDriver(cfg)
	if err != nil {
		return err
	}

	var servers []served
	lis, err := listenUnix(csiSock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", csiSock, err)
	}
	servers = append(servers, served{"csi", d.NewCSIServer(), lis, csiSock})
	if filepath.IsAbs(regSock) {
		rl, err := listenUnix(regSock)
		if err != nil {
			lis.Close()
			os.Remove(csiSock)
			return fmt.Errorf("listen on %s: %w", regSock, err)
		}
		servers = append(servers, served{"registration", NewRegistrationServer(cfg.DriverName, csiSock), rl, regSock})
	}

	errs := make(chan error, len(servers))
	for _, s := range servers {
		log.Printf("%s: driver %s %s serving on %s (node %s)", s.name, cfg.DriverName, vendorVersion, s.socket, cfg.NodeID)
		go func(s served) {
			if err := s.srv.Serve(s.lis); err != nil {
				errs <- fmt.Errorf("%s server: %w", s.name, err)
			}
		}(s)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var runErr error
	select {
	case sig := <-sigs:
		log.Printf("received %v, shutting down", sig)
	case runErr = <-errs:
		log.Printf("error: %v; shutting down", runErr)
	}

	// Registration socket first, so the kubelet stops using us, then the CSI socket.
	for i := len(servers) - 1; i >= 0; i-- {
		s := servers[i]
		done := make(chan struct{})
		go func() { s.srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopTimeout):
			log.Printf("%s: in-flight calls did not finish within %v; stopping hard", s.name, stopTimeout)
			s.srv.Stop()
		}
		if err := os.Remove(s.socket); err != nil && !os.IsNotExist(err) {
			log.Printf("%s: remove socket %s: %v", s.name, s.socket, err)
		}
	}
	log.Printf("stopped")
	return runErr
}
