package main

import (
	"context"
	"log"
	"path/filepath"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// The kubelet watches its plugins_registry directory for sockets; for each one
// it calls GetInfo, validates the answer, dials Endpoint (our CSI socket),
// calls NodeGetInfo there, and reports the outcome via NotifyRegistrationStatus.
// This replaces the node-driver-registrar sidecar.

// registrationSocketPath is <registration-dir>/<driver-name>-reg.sock, the default name.
func registrationSocketPath(regDir, driverName string) string {
	return filepath.Join(regDir, driverName+"-reg.sock")
}

type registrationServer struct {
	registerapi.UnimplementedRegistrationServer
	driverName string
	endpoint   string // filesystem path of the CSI socket, as the kubelet dials it
}

func (r *registrationServer) GetInfo(ctx context.Context, _ *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	log.Printf("registration: GetInfo from kubelet (name=%s endpoint=%s)", r.driverName, r.endpoint)
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.driverName,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrationServer) NotifyRegistrationStatus(ctx context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.GetPluginRegistered() {
		log.Printf("registration: kubelet registered plugin %s", r.driverName)
	} else {
		log.Printf("registration: ERROR: kubelet failed to register plugin %s: %s", r.driverName, st.GetError())
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// NewRegistrationServer returns a gRPC server offering the kubelet plugin
// registration service for a CSI socket at csiSocket.
func NewRegistrationServer(driverName, csiSocket string) *grpc.Server {
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registrationServer{driverName: driverName, endpoint: csiSocket})
	return srv
}
