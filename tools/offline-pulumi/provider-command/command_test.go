package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

func str(s string) resource.PropertyValue { return resource.NewStringProperty(s) }

func secret(v resource.PropertyValue) resource.PropertyValue { return resource.MakeSecret(v) }

func unknown() resource.PropertyValue { return resource.MakeComputed(str("")) }

func TestCheckFillsDefaultsAndKeepsSecrets(t *testing.T) {
	news := resource.PropertyMap{
		keyCreate:      str("echo hi"),
		keyEnvironment: secret(resource.NewProperty(resource.PropertyMap{"TOKEN": str("s3cr3t")})),
	}
	out, fails := checkInputs(news)
	if len(fails) != 0 {
		t.Fatalf("unexpected failures: %v", fails)
	}
	if v := out[keyAddPreviousOutputInEnv]; !v.IsBool() || !v.BoolValue() {
		t.Fatalf("addPreviousOutputInEnv default: got %v", v)
	}
	if !out[keyEnvironment].IsSecret() {
		t.Fatalf("environment lost its secret wrapper: %v", out[keyEnvironment])
	}
	if _, ok := news[keyAddPreviousOutputInEnv]; ok {
		t.Fatalf("checkInputs modified its argument")
	}
	// An explicit false stays false.
	out, _ = checkInputs(resource.PropertyMap{keyAddPreviousOutputInEnv: resource.NewProperty(false)})
	if out[keyAddPreviousOutputInEnv].BoolValue() {
		t.Fatalf("explicit addPreviousOutputInEnv=false was overridden")
	}
}

func TestCheckRejects(t *testing.T) {
	cases := map[string]resource.PropertyMap{
		keyAssetPaths:   {keyAssetPaths: resource.NewProperty([]resource.PropertyValue{str("*.txt")})},
		keyArchivePaths: {keyArchivePaths: resource.NewProperty([]resource.PropertyValue{str("dist/**")})},
		keyCreate:       {keyCreate: resource.NewProperty(3.0)},
		keyEnvironment:  {keyEnvironment: resource.NewProperty(resource.PropertyMap{"A": resource.NewProperty(true)})},
		keyInterpreter:  {keyInterpreter: str("/bin/bash")},
		keyLogging:      {keyLogging: str("everything")},
		keyTriggers:     {keyTriggers: str("not a list")},
	}
	for key, news := range cases {
		_, fails := checkInputs(news)
		if len(fails) == 0 || fails[0].Property != key {
			t.Errorf("%s: want a failure on %s, got %v", key, key, fails)
		}
	}
	// Empty asset lists are harmless.
	if _, fails := checkInputs(resource.PropertyMap{keyAssetPaths: resource.NewProperty([]resource.PropertyValue{})}); len(fails) != 0 {
		t.Errorf("empty assetPaths rejected: %v", fails)
	}
}

func TestCheckToleratesUnknowns(t *testing.T) {
	news := resource.PropertyMap{
		keyCreate:      unknown(),
		keyEnvironment: unknown(),
		keyTriggers:    resource.NewProperty([]resource.PropertyValue{unknown()}),
		keyStdin:       secret(unknown()),
	}
	if _, fails := checkInputs(news); len(fails) != 0 {
		t.Fatalf("unknown inputs must pass Check: %v", fails)
	}
}

func TestDiff(t *testing.T) {
	base := resource.PropertyMap{
		keyCreate:                 str("echo a"),
		keyTriggers:               resource.NewProperty([]resource.PropertyValue{str("v1")}),
		keyEnvironment:            resource.NewProperty(resource.PropertyMap{"A": str("1")}),
		keyAddPreviousOutputInEnv: resource.NewProperty(true),
		keyStdout:                 str("a"), // outputs are not compared
	}
	with := func(k resource.PropertyKey, v resource.PropertyValue) resource.PropertyMap {
		m := base.Copy()
		m[k] = v
		return m
	}
	tests := []struct {
		name          string
		news          resource.PropertyMap
		changed, repl []string
	}{
		{"same", base, nil, nil},
		{"stdout differs only", with(keyStdout, str("b")), nil, nil},
		{"secrecy only", with(keyEnvironment, secret(resource.NewProperty(resource.PropertyMap{"A": str("1")}))), nil, nil},
		{"create", with(keyCreate, str("echo b")), []string{keyCreate}, nil},
		{"environment", with(keyEnvironment, resource.NewProperty(resource.PropertyMap{"A": str("2")})), []string{keyEnvironment}, nil},
		{"triggers", with(keyTriggers, resource.NewProperty([]resource.PropertyValue{str("v2")})), []string{keyTriggers}, []string{keyTriggers}},
		{"unknown create", with(keyCreate, unknown()), []string{keyCreate}, nil},
		{"update added", with(keyUpdate, str("echo u")), []string{keyUpdate}, nil},
		{"stdin added", with(keyStdin, str("x")), []string{keyStdin}, nil},
		{"dir added", with(keyDir, str("/tmp")), []string{keyDir}, nil},
		{"interpreter", with(keyInterpreter, resource.NewProperty([]resource.PropertyValue{str("bash"), str("-c")})), []string{keyInterpreter}, nil},
	}
	for _, tc := range tests {
		d := diffInputs(base, tc.news)
		if !reflect.DeepEqual(d.Changed, tc.changed) || !reflect.DeepEqual(d.Replaces, tc.repl) {
			t.Errorf("%s: got changed=%v replaces=%v, want %v %v", tc.name, d.Changed, d.Replaces, tc.changed, tc.repl)
		}
	}
	// A state written without addPreviousOutputInEnv equals the default true.
	old := base.Copy()
	delete(old, keyAddPreviousOutputInEnv)
	if d := diffInputs(old, base); len(d.Changed) != 0 {
		t.Errorf("missing addPreviousOutputInEnv vs true: %v", d.Changed)
	}
}

func TestSecretOutputs(t *testing.T) {
	if secretOutputs(resource.PropertyMap{keyCreate: str("x"), keyLogging: secret(str("none"))}) {
		t.Errorf("logging does not make the output secret")
	}
	for _, key := range []resource.PropertyKey{keyCreate, keyStdin, keyEnvironment, keyDir, keyUpdate, keyDelete} {
		if !secretOutputs(resource.PropertyMap{key: secret(str("x"))}) {
			t.Errorf("secret %s must make stdout/stderr secret", key)
		}
	}
	nested := resource.PropertyMap{keyEnvironment: resource.NewProperty(resource.PropertyMap{"T": secret(str("x"))})}
	if !secretOutputs(nested) {
		t.Errorf("a secret inside environment must make stdout/stderr secret")
	}
}

func TestCommandEnv(t *testing.T) {
	in := inputs{Environment: map[string]string{"B": "2", "A": "1", "PATH": "/override"}, AddPreviousOutputInEnv: true}
	got := commandEnv([]string{"PATH=/usr/bin"}, in, "out", "")
	want := []string{"PATH=/usr/bin", "A=1", "B=2", "PATH=/override", envPrevStdout + "=out"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	in.AddPreviousOutputInEnv = false
	if got := commandEnv(nil, in, "out", "err"); strings.Contains(strings.Join(got, " "), "PULUMI_COMMAND") {
		t.Errorf("previous output passed although addPreviousOutputInEnv=false: %v", got)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	stdin := "from stdin"
	var logged []string
	out, errOut, err := run(context.Background(), runSpec{
		Command:   `echo "$GREETING $(pwd)"; cat; echo oops >&2`,
		Dir:       dir,
		Env:       []string{"GREETING=hello", "PATH=" + os.Getenv("PATH")},
		Stdin:     &stdin,
		LogStdout: true,
		Log:       func(l string) { logged = append(logged, l) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello " + dir + "\nfrom stdin"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if errOut != "oops" {
		t.Errorf("stderr %q, want trailing newline trimmed", errOut)
	}
	if !reflect.DeepEqual(logged, []string{"hello " + dir, "from stdin"}) {
		t.Errorf("logged %q (stderr logging was off)", logged)
	}
}

func TestRunInterpreter(t *testing.T) {
	out, _, err := run(context.Background(), runSpec{
		Interpreter: []string{"/bin/sh", "-c", `echo "$0:$1"`, "zero"},
		Command:     "one",
	})
	if err != nil || out != "zero:one" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestRunFailure(t *testing.T) {
	_, _, err := run(context.Background(), runSpec{Command: "echo visible; echo bad >&2; exit 3"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"exit status 3", `running "echo visible; echo bad >&2; exit 3"`, "visible", "bad"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var logged []string
	redact := newRedactor(resource.PropertyMap{
		keyStdin: secret(str("TOKEN=\"TOPSECRET\"\n")),
		keyEnvironment: resource.NewProperty(resource.PropertyMap{
			"KEY": secret(str("hunter22")), "PLAIN": str("visible-value"),
		}),
	})
	_, _, err = run(context.Background(), runSpec{
		Command: "echo TOPSECRET hunter22 visible-value; echo error: app is taken; exit 1", Redact: redact,
		LogStdout: true, Log: func(l string) { logged = append(logged, l) },
	})
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), "hunter22") {
		t.Errorf("a secret leaked into the error: %v", err)
	}
	if !strings.Contains(err.Error(), "error: app is taken") || !strings.Contains(err.Error(), "visible-value") {
		t.Errorf("the error must keep what is not secret: %v", err)
	}
	if len(logged) != 2 || logged[0] != "[secret] [secret] visible-value" {
		t.Errorf("log lines must be redacted, not dropped: %q", logged)
	}
	_, _, err = run(context.Background(), runSpec{Command: "true", Dir: filepath.Join(t.TempDir(), "missing")})
	if err == nil {
		t.Errorf("a missing dir must fail")
	}
}

// A secret that straddles the start of the kept tail must not show its end.
func TestSecretsAreMaskedBeforeTheTailIsCut(t *testing.T) {
	secretValue := strings.Repeat("S", 40) + "TAILEND"
	redact := newRedactor(resource.PropertyMap{keyStdin: secret(str(secretValue))})
	// The secret is printed so that the 4 KB tail starts inside it (no newline to snap to).
	padding := errorTail - len("TAILEND") - 1
	command := fmt.Sprintf("printf '%%s' %s; head -c %d /dev/zero | tr '\\0' x; exit 1", secretValue, padding)
	_, _, err := run(context.Background(), runSpec{Command: command, Redact: redact})
	if err == nil || strings.Contains(err.Error(), "TAILEND") {
		t.Errorf("the end of a secret cut by the tail leaked: %.200q", err)
	}
}

func TestTail(t *testing.T) {
	if got := tail("short", 10); got != "short" {
		t.Errorf("got %q", got)
	}
	if got := tail("line1\nline2\nline3\n", 9); got != "[...]\nline3\n" {
		t.Errorf("got %q", got)
	}
}

// The gRPC methods end to end, without an engine.
func TestProviderLifecycle(t *testing.T) {
	p := newProvider(nil)
	ctx := context.Background()
	dir := t.TempDir()
	mark := filepath.Join(dir, "deleted")
	inputs := resource.PropertyMap{
		keyCreate:      str(`printf '%s' "$TOKEN" | wc -c`),
		keyUpdate:      str(`echo "updated after $PULUMI_COMMAND_STDOUT"`),
		keyDelete:      str(`echo "$PULUMI_COMMAND_STDOUT" > ` + mark),
		keyEnvironment: secret(resource.NewProperty(resource.PropertyMap{"TOKEN": str("abcd")})),
		keyDir:         str(dir),
	}
	urn := "urn:pulumi:dev::p::command:local:Command::c1"
	checked, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: mustMarshal(t, inputs)})
	if err != nil || len(checked.GetFailures()) != 0 {
		t.Fatalf("check: %v %v", err, checked.GetFailures())
	}

	prev, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: checked.GetInputs(), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if pv := mustUnmarshal(t, prev.GetProperties()); !pv[keyStdout].IsComputed() {
		t.Errorf("preview stdout must be unknown, got %v", pv[keyStdout])
	}

	created, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: checked.GetInputs()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.GetId(), "c1") {
		t.Errorf("id %q", created.GetId())
	}
	state := mustUnmarshal(t, created.GetProperties())
	if v := state[keyStdout]; !v.IsSecret() || strings.TrimSpace(v.SecretValue().Element.StringValue()) != "4" {
		t.Fatalf("stdout must be the secret %q, got %v", "4", v)
	}
	if !state[keyEnvironment].IsSecret() {
		t.Errorf("environment lost its secret wrapper in the state")
	}

	news := inputs.Copy()
	news[keyStdin] = str("changed")
	updated, err := p.Update(ctx, &pulumirpc.UpdateRequest{
		Urn: urn, Olds: created.GetProperties(), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	state = mustUnmarshal(t, updated.GetProperties())
	if got := unwrap(state[keyStdout]).StringValue(); !strings.HasPrefix(got, "updated after") || !strings.HasSuffix(got, "4") {
		t.Errorf("update stdout %q", got)
	}

	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: urn, Properties: updated.GetProperties()}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mark)
	if err != nil || !strings.HasPrefix(string(b), "updated after") {
		t.Errorf("delete did not see the last stdout: %q %v", b, err)
	}

	if _, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: "urn:pulumi:dev::p::command:remote:Command::r"}); err == nil {
		t.Errorf("remote commands must be rejected")
	}
}

func TestSchemaVersion(t *testing.T) {
	s, err := schemaJSON()
	if err != nil || !strings.Contains(s, `"version":"1.2.1"`) || !strings.Contains(s, commandType) {
		t.Fatalf("schema: %v %s", err, s)
	}
}

func mustMarshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal("test", m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUnmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal("test", s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
