// pulumi-language-python (launcher): the binary Pulumi CLI v3.259.0 starts as the
// Python language host. It starts the real host, pulumi-language-python of sdk/v3
// v3.79.0, and relays the CLI's RPCs to it, filling two gaps between them:
//
//   - Runtime options. CLI v3.259.0 starts a language host with only the engine
//     address and sends Pulumi.yaml's runtime options (virtualenv, toolchain, ...)
//     in RPC fields (ProgramInfo) added after v3.79.0; the v3.79.0 host reads them
//     only from its -virtualenv/-root flags, and without them would run the program
//     with the system python. The launcher reads the nearest Pulumi.yaml and passes
//     those flags (project.go). For `toolchain: uv` it also does what the real host
//     does and the old one cannot (uv.go): `uv sync --inexact` first, and the Pulumi
//     packages read from uv.lock (GetRequiredPlugins) instead of from `pip list`.
//   - RunPlugin (policy packs, `pulumi preview --policy-pack DIR`): the v3.79.0 host
//     runs the deprecated RunPluginRequest.program field, which CLI v3.259.0 no
//     longer sets. The launcher answers RunPlugin itself (runplugin.go).
//
// Every other RPC is relayed byte for byte (proxy.go), so the v3.79.0 host's own
// answers, including Unimplemented for newer RPCs (GetRequiredPackages, Handshake,
// ...) that the CLI then falls back from, reach the CLI unchanged.
//
// Layout (toolchain/language-python/build.sh):
//
//	<bin>/pulumi-language-python              this launcher
//	<bin>/pulumi-language-python-exec         the Python side (from sdk/v3 v3.259.0)
//	<bin>/python-host/pulumi-language-python  the v3.79.0 host (in a subfolder, off PATH)
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
)

// hostDir is the folder, next to the launcher, that holds the v3.79.0 host.
const hostDir = "python-host"

func main() {
	code, err := launch()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python (service-infra launcher): %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// launch starts the host and serves the relay until the host exits; it returns the
// host's exit code.
func launch() (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return 0, err
	}
	bin := filepath.Dir(self)
	host := filepath.Join(bin, hostDir, "pulumi-language-python")
	executor := filepath.Join(bin, "pulumi-language-python-exec")
	for _, p := range []string{host, executor} {
		if _, err := os.Stat(p); err != nil {
			return 0, fmt.Errorf("missing %s (run toolchain/install.sh): %w", p, err)
		}
	}

	cwd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	opts := runtimeOptions{}
	project, err := findProject(cwd)
	if err != nil {
		return 0, err
	}
	if project != "" {
		if opts, err = parseRuntime(project); err != nil {
			return 0, err
		}
	}

	var answered []grpc.MethodDesc // RPCs the launcher answers itself, besides RunPlugin
	if opts.Toolchain == "uv" {
		venv := opts.virtualenv()
		if err := uvSync(opts, venv); err != nil {
			return 0, err
		}
		answered = append(answered, requiredPluginsMethod(opts.Root, venv))
	}

	// The host: our flags, then the CLI's arguments (flags, then the engine address).
	cmd := exec.Command(host, append(hostArgs(opts, executor), os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with us
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// Like every plugin, the host prints its port on its first stdout line.
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		_ = cmd.Wait()
		return 0, fmt.Errorf("the language host %s exited before printing its port: %w", host, err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = cmd.Process.Kill()
		return 0, fmt.Errorf("the language host printed %q instead of its port", line)
	}
	go func() { _, _ = out.WriteTo(os.Stdout) }() // anything else it prints

	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	defer conn.Close()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	srv := newServer(conn, answered...)
	go func() { _ = srv.Serve(lis) }()
	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)

	// Signals the CLI sends us go to the host too; when the host ends, so do we.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	srv.Stop()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), nil
	}
	return 0, err
}
