package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// fakeHost stands for the v3.79.0 host: a few RPCs, Unimplemented for the rest.
type fakeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
}

func (fakeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: "3.79.0"}, nil
}

func (fakeHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	s grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	for _, line := range []string{"one " + req.GetDirectory(), "two"} {
		if err := s.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(line)}); err != nil {
			return err
		}
	}
	return nil
}

func (fakeHost) RunPlugin(*pulumirpc.RunPluginRequest, grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	return status.Error(codes.Internal, "the host's RunPlugin must not be reached")
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// launcherClient: a client of the launcher's server, relaying to a fakeHost.
func launcherClient(t *testing.T, answered ...grpc.MethodDesc) pulumirpc.LanguageRuntimeClient {
	hostAddr := serve(t, func(s *grpc.Server) { pulumirpc.RegisterLanguageRuntimeServer(s, fakeHost{}) })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(dial(t, hostAddr), answered...)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return pulumirpc.NewLanguageRuntimeClient(dial(t, lis.Addr().String()))
}

func TestRelay(t *testing.T) {
	c := launcherClient(t)
	ctx := context.Background()

	info, err := c.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil || info.GetVersion() != "3.79.0" {
		t.Fatalf("unary relay: %v %v", info, err)
	}

	// The host's Unimplemented reaches the CLI as such (it falls back on it).
	_, err = c.GetRequiredPackages(ctx, &pulumirpc.GetRequiredPackagesRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("want Unimplemented, got %v", err)
	}
	// A pip project's plugins are the host's answer.
	_, err = c.GetRequiredPlugins(ctx, &pulumirpc.GetRequiredPluginsRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetRequiredPlugins: want the fake host's Unimplemented, got %v", err)
	}

	stream, err := c.InstallDependencies(ctx, &pulumirpc.InstallDependenciesRequest{Directory: "/d"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.GetStdout()))
	}
	if strings.Join(got, "|") != "one /d|two" {
		t.Fatalf("streaming relay: %q", got)
	}
}

func TestRunPluginAnsweredHere(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "venv", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(python, filepath.Join(dir, "venv", "bin", "python")); err != nil {
		t.Fatal(err)
	}
	main := "import os, sys\nprint('args', sys.argv[1:], os.environ.get('FROM_CLI'))\nsys.exit(3)\n"
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, _ := structpb.NewStruct(map[string]any{"virtualenv": "venv"})
	stream, err := launcherClient(t).RunPlugin(context.Background(), &pulumirpc.RunPluginRequest{
		Pwd:  dir,
		Args: []string{"127.0.0.1:1234"},
		Env:  []string{"FROM_CLI=yes"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: ".", Options: opts},
		Kind: "analyzer",
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code := int32(-1)
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out.Write(m.GetStdout())
		if e, ok := m.GetOutput().(*pulumirpc.RunPluginResponse_Exitcode); ok {
			code = e.Exitcode
		}
	}
	if want := "args ['127.0.0.1:1234'] yes"; !strings.Contains(out.String(), want) || code != 3 {
		t.Fatalf("stdout %q exit %d; want %q and 3", out.String(), code, want)
	}
}

func TestPluginOptions(t *testing.T) {
	opts, err := pluginOptions(&pulumirpc.ProgramInfo{RootDirectory: "/r", ProgramDirectory: "/r"})
	if err != nil || opts.Virtualenv != "venv" {
		t.Errorf("a pip plugin defaults to venv: %+v %v", opts, err)
	}
	o, _ := structpb.NewStruct(map[string]any{"toolchain": "conda"})
	if _, err := pluginOptions(&pulumirpc.ProgramInfo{Options: o}); err == nil {
		t.Errorf("unknown toolchain accepted")
	}
}
