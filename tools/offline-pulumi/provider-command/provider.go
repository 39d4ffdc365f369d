// The gRPC side of the provider: the ResourceProviderServer methods the engine
// calls, each a thin layer over command.go.
package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// commandType is the only resource this provider implements.
const commandType = "command:local:Command"

// commandProvider implements pulumirpc.ResourceProviderServer. Methods it does not
// override (Invoke, Call, Construct, Read of other types, ...) answer Unimplemented.
type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host *provider.HostClient // nil in tests

	// cancel ends every command still running (the engine's Cancel).
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func newProvider(host *provider.HostClient) *commandProvider {
	ctx, cancel := context.WithCancel(context.Background())
	return &commandProvider{host: host, ctx: ctx, cancel: cancel}
}

// Properties travel with their secrets and unknowns kept: Configure tells the
// engine this provider accepts secrets, so it sends them wrapped.
var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}

func unmarshal(label string, s *structpb.Struct) (resource.PropertyMap, error) {
	opts := marshalOpts
	opts.Label = label
	m, err := plugin.UnmarshalProperties(s, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return m, nil
}

func marshal(label string, m resource.PropertyMap) (*structpb.Struct, error) {
	opts := marshalOpts
	opts.Label = label
	return plugin.MarshalProperties(m, opts)
}

// checkType rejects every type token but command:local:Command (remote commands,
// copies, ... are not implemented by this build).
func checkType(urn string, typ string) error {
	if typ == "" && urn != "" {
		typ = string(resource.URN(urn).Type())
	}
	if typ != commandType {
		return status.Errorf(codes.Unimplemented,
			"resource type %q is not implemented by service-infra's pulumi-resource-command "+
				"(toolchain/provider-command implements only %s)", typ, commandType)
	}
	return nil
}

// ---------------------------------------------------------------- plugin level

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *commandProvider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "no subpackage %q", req.GetSubpackageName())
	}
	s, err := schemaJSON()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: s}, nil
}

// Handshake is the newer engines' first call; older ones skip it and call Configure.
func (p *commandProvider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

// The provider has no configuration: CheckConfig passes it through, DiffConfig
// never asks for a change.
func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// Cancel ends the commands still running; the engine calls it on Ctrl-C.
func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.once.Do(p.cancel)
	return &emptypb.Empty{}, nil
}

// ---------------------------------------------------------------- the resource

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	news, err := unmarshal("news", req.GetNews())
	if err != nil {
		return nil, err
	}
	checked, fails := checkInputs(news)
	out, err := marshal("inputs", checked)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.CheckResponse{Inputs: out}
	for _, f := range fails {
		resp.Failures = append(resp.Failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return resp, nil
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	// The old inputs when the engine sends them, else the old state (which holds
	// every input too).
	olds, err := unmarshal("oldInputs", req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		if olds, err = unmarshal("olds", req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal("news", req.GetNews())
	if err != nil {
		return nil, err
	}
	d := diffInputs(olds, news)
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		Replaces:        d.Replaces,
		Diffs:           d.Changed,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	if len(d.Changed) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	for _, k := range d.Changed {
		kind := pulumirpc.PropertyDiff_UPDATE
		if k == keyTriggers {
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return resp, nil
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	news, err := unmarshal("properties", req.GetProperties())
	if err != nil {
		return nil, err
	}
	in, fails := decodeInputs(news)
	if len(fails) > 0 {
		return nil, fmt.Errorf("invalid inputs: %s", fails[0].Reason)
	}
	name := req.GetName()
	if name == "" {
		name = resource.URN(req.GetUrn()).Name()
	}
	id, err := resource.NewUniqueHex(name, 8, 0)
	if err != nil {
		return nil, err
	}

	var stdout, stderr string
	if !req.GetPreview() && in.Create != nil {
		stdout, stderr, err = p.runCommand(ctx, req.GetUrn(), req.GetTimeout(), *in.Create, in, news, "", "")
		if err != nil {
			return nil, err
		}
	}
	outs, err := marshal("outputs", withOutputs(news, stdout, stderr, req.GetPreview()))
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		id = "" // the real ID is drawn when the command runs; a preview shows it as unknown
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: outs}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	// A command cannot be read back: the state is what the last run left.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	olds, err := unmarshal("olds", req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal("news", req.GetNews())
	if err != nil {
		return nil, err
	}
	in, fails := decodeInputs(news)
	if len(fails) > 0 {
		return nil, fmt.Errorf("invalid inputs: %s", fails[0].Reason)
	}
	// Without a command to run, the previous output stays.
	stdout, stderr := stringOutput(olds, keyStdout), stringOutput(olds, keyStderr)
	cmd := in.Update
	if cmd == nil {
		cmd = in.Create
	}
	if !req.GetPreview() && cmd != nil {
		stdout, stderr, err = p.runCommand(ctx, req.GetUrn(), req.GetTimeout(), *cmd, in, news, stdout, stderr)
		if err != nil {
			return nil, err
		}
	}
	outs, err := marshal("outputs", withOutputs(news, stdout, stderr, req.GetPreview()))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outs}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(req.GetUrn(), req.GetType()); err != nil {
		return nil, err
	}
	props, err := unmarshal("properties", req.GetProperties())
	if err != nil {
		return nil, err
	}
	// Decoding errors are ignored here: a resource must stay deletable.
	in, _ := decodeInputs(props)
	if in.Delete == nil {
		return &emptypb.Empty{}, nil // nothing to run: the engine just forgets it
	}
	_, _, err = p.runCommand(ctx, req.GetUrn(), req.GetTimeout(), *in.Delete, in, props,
		stringOutput(props, keyStdout), stringOutput(props, keyStderr))
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// ---------------------------------------------------------------- helpers

// withOutputs is the state of a Command: its inputs as they came (secrets kept),
// plus stdout and stderr; those are secret when an input they depend on is, and
// unknown during a preview (nothing runs then).
func withOutputs(news resource.PropertyMap, stdout, stderr string, preview bool) resource.PropertyMap {
	outs := news.Copy()
	wrap := func(s string) resource.PropertyValue {
		if preview {
			// Unknown says nothing, so it needs no secret wrapper.
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		v := resource.NewStringProperty(s)
		if secretOutputs(news) {
			v = resource.MakeSecret(v)
		}
		return v
	}
	outs[keyStdout] = wrap(stdout)
	outs[keyStderr] = wrap(stderr)
	return outs
}

// stringOutput reads a string output (stdout/stderr) from a state, secret or not.
func stringOutput(m resource.PropertyMap, key resource.PropertyKey) string {
	if v, ok := m[key]; ok {
		if v = unwrap(v); v.IsString() {
			return v.StringValue()
		}
	}
	return ""
}

// runCommand runs one command of the resource at urn with its inputs in. props
// (the inputs as sent, with secrets) decide whether anything may be logged.
// prevStdout/prevStderr are the last run's output (for PULUMI_COMMAND_STDOUT/ERR).
func (p *commandProvider) runCommand(
	ctx context.Context, urn string, timeout float64, command string, in inputs,
	props resource.PropertyMap, prevStdout, prevStderr string,
) (string, string, error) {
	// Stop the command on the engine's Cancel, on the request's end and on its
	// custom timeout.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(p.ctx, stop)()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout*float64(time.Second)))
		defer cancel()
	}

	dir, err := workingDir(in)
	if err != nil {
		return "", "", err
	}
	spec := runSpec{
		Command:     command,
		Interpreter: in.Interpreter,
		Dir:         dir,
		Env:         commandEnv(environ(), in, prevStdout, prevStderr),
		Stdin:       in.Stdin,
		Redact:      newRedactor(props),
		LogStdout:   in.Logging == "" || in.Logging == logStdout || in.Logging == logStdoutAndStderr,
		LogStderr:   in.Logging == "" || in.Logging == logStderr || in.Logging == logStdoutAndStderr,
	}
	if p.host != nil {
		spec.Log = func(line string) {
			_ = p.host.Log(ctx, diag.Info, resource.URN(urn), line)
		}
	}
	// Only the command (secrets masked) and the directory reach the verbose log;
	// never stdin nor environment values.
	logging.V(5).Infof("%s: running %q in %s", urn, spec.Redact.apply(command), dir)
	return run(ctx, spec)
}
