package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindProjectWalksUp(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "Pulumi.yaml"), "name: p\nruntime: python\n")
	sub := filepath.Join(root, "src", "app")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := findProject(sub)
	if err != nil || got != filepath.Join(root, "Pulumi.yaml") {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestParseRuntime(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Pulumi.yaml")

	write(t, p, "name: p\nruntime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n")
	opts, err := parseRuntime(p)
	if err != nil {
		t.Fatal(err)
	}
	if opts != (runtimeOptions{Root: dir, Virtualenv: ".venv", Toolchain: "pip"}) {
		t.Errorf("got %+v", opts)
	}
	want := []string{"-root=" + dir, "-virtualenv=" + filepath.Join(dir, ".venv"), "-use-executor=/x/exec"}
	if got := hostArgs(opts, "/x/exec"); !reflect.DeepEqual(got, want) {
		t.Errorf("hostArgs %v, want %v", got, want)
	}

	write(t, p, "name: p\nruntime: python\n")
	if opts, err = parseRuntime(p); err != nil || opts.Virtualenv != "" {
		t.Errorf("plain runtime: %+v %v", opts, err)
	}

	write(t, p, "name: p\nruntime:\n  name: python\n  options:\n    virtualenv: /abs/venv\n")
	opts, _ = parseRuntime(p)
	if got := hostArgs(opts, "e"); got[1] != "-virtualenv=/abs/venv" {
		t.Errorf("absolute virtualenv: %v", got)
	}

	write(t, p, "name: p\nruntime:\n  name: python\n  options:\n    toolchain: poetry\n")
	if _, err := parseRuntime(p); err == nil || !strings.Contains(err.Error(), "toolchain") {
		t.Errorf("toolchain poetry: want a clear error, got %v", err)
	}
}

func TestHostArgsWithoutProject(t *testing.T) {
	if got := hostArgs(runtimeOptions{}, "e"); !reflect.DeepEqual(got, []string{"-use-executor=e"}) {
		t.Errorf("got %v", got)
	}
}
