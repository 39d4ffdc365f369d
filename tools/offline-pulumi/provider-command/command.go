// The pure part of the provider: reading and checking the inputs of a
// `command:local:Command`, diffing them, building the environment of a run and
// running a command. Nothing here talks gRPC; provider.go wires it to the engine.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The wire names of the inputs, as the pulumi-command 1.2.1 Python SDK sends them
// (pulumi_command/local/command.py).
const (
	keyCreate                 = "create"
	keyUpdate                 = "update"
	keyDelete                 = "delete"
	keyDir                    = "dir"
	keyEnvironment            = "environment"
	keyInterpreter            = "interpreter"
	keyStdin                  = "stdin"
	keyTriggers               = "triggers"
	keyLogging                = "logging"
	keyAddPreviousOutputInEnv = "addPreviousOutputInEnv"
	keyAssetPaths             = "assetPaths"
	keyArchivePaths           = "archivePaths"

	// Outputs.
	keyStdout = "stdout"
	keyStderr = "stderr"

	// Environment variables that carry the previous run's output into the next one.
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

// inputKeys are every input of the resource, in schema order; Diff compares these.
var inputKeys = []resource.PropertyKey{
	keyAddPreviousOutputInEnv, keyArchivePaths, keyAssetPaths, keyCreate, keyDelete, keyDir,
	keyEnvironment, keyInterpreter, keyLogging, keyStdin, keyTriggers, keyUpdate,
}

// outputDependencies are the inputs stdout and stderr depend on (as upstream declares
// them): when any of these is secret, stdout and stderr are returned as secrets too.
var outputDependencies = []resource.PropertyKey{
	keyTriggers, keyCreate, keyUpdate, keyDelete, keyInterpreter, keyDir, keyEnvironment,
	keyStdin, keyAssetPaths, keyArchivePaths,
}

// defaultInterpreter is what upstream uses on Linux and macOS.
var defaultInterpreter = []string{"/bin/sh", "-c"}

// Logging values (the command:local:Logging enum).
const (
	logStdout          = "stdout"
	logStderr          = "stderr"
	logStdoutAndStderr = "stdoutAndStderr"
	logNone            = "none"
)

// inputs is the decoded form of a Command's inputs (or of its state, which holds
// the inputs too). Secrets are unwrapped here: callers decide what stays secret.
type inputs struct {
	Create, Update, Delete *string
	Dir                    *string
	Stdin                  *string
	Environment            map[string]string
	Interpreter            []string
	Logging                string // "" means the default, stdoutAndStderr
	AddPreviousOutputInEnv bool
	AssetPaths             []string
	ArchivePaths           []string
}

// failure is one input that Check rejects.
type failure struct {
	Property string
	Reason   string
}

// unwrap removes secret and output wrappers (recursively), keeping unknowns as
// computed values, so values can be compared and decoded whatever their secrecy.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return unwrap(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return unwrap(o.Element)
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]resource.PropertyValue, len(arr))
		for i, e := range arr {
			out[i] = unwrap(e)
		}
		return resource.NewProperty(out)
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(resource.PropertyMap, len(obj))
		for k, e := range obj {
			out[k] = unwrap(e)
		}
		return resource.NewProperty(out)
	}
	return v
}

// present reports whether key holds a value (not missing, not null).
func present(m resource.PropertyMap, key resource.PropertyKey) bool {
	v, ok := m[key]
	return ok && !v.IsNull()
}

// isUnknown reports whether the value (or anything in it) is not known yet (preview).
func isUnknown(v resource.PropertyValue) bool {
	return v.ContainsUnknowns()
}

// decodeInputs reads the inputs from m. Values that are unknown (during preview)
// are left unset; values of the wrong type are reported as failures.
func decodeInputs(m resource.PropertyMap) (inputs, []failure) {
	in := inputs{AddPreviousOutputInEnv: true}
	var fails []failure
	bad := func(key resource.PropertyKey, want string) {
		fails = append(fails, failure{string(key), fmt.Sprintf("%s must be %s", key, want)})
	}
	str := func(key resource.PropertyKey) *string {
		if !present(m, key) {
			return nil
		}
		v := unwrap(m[key])
		if isUnknown(v) {
			return nil
		}
		if !v.IsString() {
			bad(key, "a string")
			return nil
		}
		s := v.StringValue()
		return &s
	}
	strs := func(key resource.PropertyKey) []string {
		if !present(m, key) {
			return nil
		}
		v := unwrap(m[key])
		if isUnknown(v) {
			return nil
		}
		if !v.IsArray() {
			bad(key, "a list of strings")
			return nil
		}
		out := []string{}
		for _, e := range v.ArrayValue() {
			if !e.IsString() {
				bad(key, "a list of strings")
				return nil
			}
			out = append(out, e.StringValue())
		}
		return out
	}

	in.Create, in.Update, in.Delete = str(keyCreate), str(keyUpdate), str(keyDelete)
	in.Dir, in.Stdin = str(keyDir), str(keyStdin)
	in.Interpreter = strs(keyInterpreter)
	in.AssetPaths, in.ArchivePaths = strs(keyAssetPaths), strs(keyArchivePaths)

	if present(m, keyEnvironment) {
		v := unwrap(m[keyEnvironment])
		switch {
		case isUnknown(v):
		case !v.IsObject():
			bad(keyEnvironment, "a map of strings")
		default:
			in.Environment = map[string]string{}
			for k, e := range v.ObjectValue() {
				if !e.IsString() {
					bad(keyEnvironment, "a map of strings")
					break
				}
				in.Environment[string(k)] = e.StringValue()
			}
		}
	}
	if l := str(keyLogging); l != nil {
		switch *l {
		case logStdout, logStderr, logStdoutAndStderr, logNone:
			in.Logging = *l
		default:
			fails = append(fails, failure{keyLogging, fmt.Sprintf(
				"logging must be one of %q, %q, %q, %q; got %q",
				logStdout, logStderr, logStdoutAndStderr, logNone, *l)})
		}
	}
	if present(m, keyAddPreviousOutputInEnv) {
		v := unwrap(m[keyAddPreviousOutputInEnv])
		switch {
		case isUnknown(v):
		case v.IsBool():
			in.AddPreviousOutputInEnv = v.BoolValue()
		default:
			bad(keyAddPreviousOutputInEnv, "a boolean")
		}
	}
	if present(m, keyTriggers) {
		if v := unwrap(m[keyTriggers]); !isUnknown(v) && !v.IsArray() {
			bad(keyTriggers, "a list")
		}
	}
	// An empty interpreter list means the default, as upstream (see run).
	return in, fails
}

// checkInputs is Check for a Command: it validates news and fills in the defaults
// (addPreviousOutputInEnv: true), keeping secrets and unknowns as they came.
func checkInputs(news resource.PropertyMap) (resource.PropertyMap, []failure) {
	_, fails := decodeInputs(news)
	for _, key := range []resource.PropertyKey{keyAssetPaths, keyArchivePaths} {
		if present(news, key) {
			v := unwrap(news[key])
			if isUnknown(v) || (v.IsArray() && len(v.ArrayValue()) > 0) {
				fails = append(fails, failure{string(key), fmt.Sprintf(
					"%s is not supported by service-infra's pulumi-resource-command "+
						"(toolchain/provider-command); remove it or collect the files another way", key)})
			}
		}
	}
	out := news.Copy()
	if !present(out, keyAddPreviousOutputInEnv) {
		out[keyAddPreviousOutputInEnv] = resource.NewProperty(true)
	}
	return out, fails
}

// diffResult is what Diff reports: the inputs that changed, and which of those force
// a replacement (triggers).
type diffResult struct {
	Changed  []string
	Replaces []string
}

// diffInputs compares the old inputs with the new ones. A change in triggers means
// a replacement; a change in any other input means an update (which re-runs
// `update`, or `create` when there is no `update`). Secrecy alone is not a change.
func diffInputs(olds, news resource.PropertyMap) diffResult {
	var d diffResult
	for _, key := range inputKeys {
		o, n := olds[key], news[key]
		if equalValues(key, o, n) {
			continue
		}
		d.Changed = append(d.Changed, string(key))
		if key == keyTriggers {
			d.Replaces = append(d.Replaces, string(key))
		}
	}
	return d
}

// equalValues compares two input values, ignoring secrecy; an unknown new value is
// always a change; a missing addPreviousOutputInEnv equals its default, true.
func equalValues(key resource.PropertyKey, o, n resource.PropertyValue) bool {
	o, n = unwrap(o), unwrap(n)
	if n.ContainsUnknowns() {
		return false
	}
	if key == keyAddPreviousOutputInEnv {
		if o.IsNull() {
			o = resource.NewProperty(true)
		}
		if n.IsNull() {
			n = resource.NewProperty(true)
		}
	}
	return o.DeepEquals(n)
}

// secretOutputs reports whether stdout and stderr must be secret: whenever any
// input they depend on is (or contains) a secret.
func secretOutputs(m resource.PropertyMap) bool {
	for _, key := range outputDependencies {
		if v, ok := m[key]; ok && v.ContainsSecrets() {
			return true
		}
	}
	return false
}

// redactor holds the secret values a run must never print, longest first.
type redactor []string

// minRedacted: shorter secret fragments are not masked (they would garble all output).
const minRedacted = 3

// newRedactor collects every secret string among the inputs stdout and stderr depend
// on; for those strings it also masks each line and each NAME=VALUE value (with its
// quotes trimmed), as secrets travel on stdin.
func newRedactor(m resource.PropertyMap) redactor {
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= minRedacted {
			seen[s] = true
		}
	}
	var walk func(v resource.PropertyValue, secret bool)
	walk = func(v resource.PropertyValue, secret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			walk(v.OutputValue().Element, secret || v.OutputValue().Secret)
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, secret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, secret)
			}
		case v.IsString() && secret:
			add(v.StringValue())
			for _, line := range strings.Split(v.StringValue(), "\n") {
				add(strings.TrimSpace(line))
				if _, value, ok := strings.Cut(line, "="); ok {
					add(strings.Trim(strings.TrimSpace(value), `"'`))
				}
			}
		}
	}
	for _, key := range outputDependencies {
		if v, ok := m[key]; ok {
			walk(v, false)
		}
	}
	out := make(redactor, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[secret]")
	}
	return s
}

// commandEnv is the environment of a run: base (the provider's own environment),
// then the resource's `environment` (sorted, so runs are reproducible), then the
// previous run's stdout/stderr when addPreviousOutputInEnv and they are not empty.
// Later entries win (os/exec keeps the last value of a duplicated key).
func commandEnv(base []string, in inputs, prevStdout, prevStderr string) []string {
	env := append([]string{}, base...)
	keys := make([]string, 0, len(in.Environment))
	for k := range in.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+in.Environment[k])
	}
	if in.AddPreviousOutputInEnv {
		if prevStdout != "" {
			env = append(env, envPrevStdout+"="+prevStdout)
		}
		if prevStderr != "" {
			env = append(env, envPrevStderr+"="+prevStderr)
		}
	}
	return env
}

// runSpec is one command to run.
type runSpec struct {
	Command     string
	Interpreter []string // nil: defaultInterpreter
	Dir         string   // "": the provider's working directory
	Env         []string
	Stdin       *string
	// Redact masks secret values in everything a run prints (log lines, errors).
	Redact redactor
	// LogStdout/LogStderr: stream those lines to Log while the command runs.
	LogStdout, LogStderr bool
	Log                  func(line string)
}

// errorTail is how much combined output a failure message keeps (the end of it).
const errorTail = 4096

// run runs spec.Command through the interpreter and returns its stdout and stderr,
// each without its trailing newline (as upstream). A non-zero exit is an error that
// quotes the command and the tail of its combined output, secret values masked. Masking comes
// before the cut: a secret cut in half by the tail would no longer match, and its end would show.
func run(ctx context.Context, spec runSpec) (string, string, error) {
	interp := spec.Interpreter
	if len(interp) == 0 {
		interp = defaultInterpreter
	}
	args := append(append([]string{}, interp[1:]...), spec.Command)
	cmd := exec.CommandContext(ctx, interp[0], args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	if spec.Stdin != nil && *spec.Stdin != "" {
		cmd.Stdin = strings.NewReader(*spec.Stdin)
	}

	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	outLog := newLineWriter(spec.LogStdout, spec.Log, spec.Redact)
	errLog := newLineWriter(spec.LogStderr, spec.Log, spec.Redact)
	cmd.Stdout = io.MultiWriter(&stdout, combined, outLog)
	cmd.Stderr = io.MultiWriter(&stderr, combined, errLog)

	err := cmd.Run()
	outLog.Flush()
	errLog.Flush()
	if err != nil {
		return "", "", fmt.Errorf("%w: running %q:\n%s", err,
			spec.Redact.apply(spec.Command), tail(spec.Redact.apply(combined.String()), errorTail))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}

// tail keeps the last n bytes of s, starting at a line boundary when it cuts.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "[...]\n" + s
}

// lockedBuffer is a bytes.Buffer that stdout and stderr may write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWriter passes each complete line written to it to log (when enabled), redacted.
type lineWriter struct {
	enabled bool
	log     func(string)
	redact  redactor
	pending []byte
}

func newLineWriter(enabled bool, log func(string), redact redactor) *lineWriter {
	return &lineWriter{enabled: enabled && log != nil, log: log, redact: redact}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if !w.enabled {
		return len(p), nil
	}
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			break
		}
		w.log(w.redact.apply(string(w.pending[:i])))
		w.pending = w.pending[i+1:]
	}
	return len(p), nil
}

// Flush logs a last line that had no newline.
func (w *lineWriter) Flush() {
	if w.enabled && len(w.pending) > 0 {
		w.log(w.redact.apply(string(w.pending)))
	}
	w.pending = nil
}

// workingDir is where commands run when `dir` is not set: the provider's own
// working directory, which the engine sets to the program's directory.
func workingDir(in inputs) (string, error) {
	if in.Dir != nil && *in.Dir != "" {
		return *in.Dir, nil
	}
	return os.Getwd()
}
