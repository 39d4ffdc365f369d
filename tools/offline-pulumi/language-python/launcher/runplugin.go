// RunPlugin, answered by the launcher: CLI v3.259.0 runs Python policy packs
// (`--policy-pack DIR`) and Python plugins through it, naming the plugin in
// RunPluginRequest.info, which the v3.79.0 host does not read.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// pluginOptions turns the plugin's runtime options (its PulumiPolicy.yaml or
// PulumiPlugin.yaml, as the CLI sends them) into toolchain options. As the real
// host does, a pip plugin without `virtualenv` uses `venv` in its folder: plugins
// never run in the ambient python.
func pluginOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{
		Root:       info.GetRootDirectory(),
		ProgramDir: info.GetProgramDirectory(),
		Toolchain:  toolchain.Pip,
	}
	m := info.GetOptions().AsMap()
	if v, ok := m["virtualenv"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("runtime option virtualenv must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := m["toolchain"]; ok {
		switch v {
		case "pip":
		case "uv":
			opts.Toolchain = toolchain.Uv
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		default:
			return opts, fmt.Errorf("unknown runtime option toolchain %v", v)
		}
	}
	if opts.Toolchain == toolchain.Pip && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

// pluginArgs is the python command line of a plugin: its folder (python runs its
// __main__.py), then the CLI's arguments (the engine address, ...).
func pluginArgs(req *pulumirpc.RunPluginRequest) []string {
	return append([]string{req.GetInfo().GetProgramDirectory()}, req.GetArgs()...)
}

func runPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	opts, err := pluginOptions(req.GetInfo())
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	cmd, err := tc.Command(server.Context(), pluginArgs(req)...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Dir = req.GetPwd()
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return server.Send(&pulumirpc.RunPluginResponse{
				Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exit.ExitCode())},
			})
		}
		return fmt.Errorf("could not run the python plugin in %s: %w", opts.ProgramDir, err)
	}
	return closer.Close()
}
