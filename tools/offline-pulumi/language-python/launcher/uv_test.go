package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/emptypb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestUvVirtualenv(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "infra")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "uv.lock"), "version = 1\n")
	t.Setenv("UV_PROJECT_ENVIRONMENT", "")
	cases := []struct {
		opts runtimeOptions
		env  string
		want string
	}{
		{runtimeOptions{Root: sub, Toolchain: "uv", Virtualenv: ".venv"}, "", filepath.Join(sub, ".venv")},
		{runtimeOptions{Root: sub, Toolchain: "uv"}, "", filepath.Join(dir, ".venv")},  // beside uv.lock
		{runtimeOptions{Root: sub, Toolchain: "uv"}, "env", filepath.Join(dir, "env")}, // UV_PROJECT_ENVIRONMENT
		{runtimeOptions{Root: sub, Toolchain: "uv"}, "/abs/env", "/abs/env"},
	}
	for _, c := range cases {
		t.Setenv("UV_PROJECT_ENVIRONMENT", c.env)
		if got := c.opts.virtualenv(); got != c.want {
			t.Errorf("%+v with UV_PROJECT_ENVIRONMENT=%q: got %s, want %s", c.opts, c.env, got, c.want)
		}
	}
	opts, err := parseRuntime(writeProject(t, dir, "toolchain: uv\n    virtualenv: .venv\n"))
	if err != nil || hostArgs(opts, "e")[1] != "-virtualenv="+filepath.Join(dir, ".venv") {
		t.Errorf("uv project: %v %v", hostArgs(opts, "e"), err)
	}
}

func writeProject(t *testing.T, dir, options string) string {
	t.Helper()
	p := filepath.Join(dir, "Pulumi.yaml")
	write(t, p, "name: p\nruntime:\n  name: python\n  options:\n    "+options)
	return p
}

// The plugins of a uv project come from uv.lock and the virtualenv's pulumi-plugin.json files,
// by the rules the v3.79.0 host applies to `pip list`.
func TestRequiredPluginsFromUvLock(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "uv.lock"), `version = 1
requires-python = ">=3.11"

[[package]]
name = "service-infra"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "pulumi"
version = "3.259.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pulumi-docker"
version = "5.1.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pulumi_github"
version = "6.15.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pulumi-policy"
version = "1.21.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pulumi-notaplugin"
version = "1.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "acme-provider"
version = "2.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pydantic"
version = "2.14.3"
source = { registry = "https://pypi.org/simple" }
`)
	site := filepath.Join(dir, ".venv", "lib", "python3.11", "site-packages")
	plugins := map[string]string{
		"pulumi_docker":     `{"resource": true, "name": "docker", "version": "5.1.0"}`,
		"pulumi_notaplugin": `{"resource": false}`,
		"acme_provider":     `{"resource": true, "name": "acme", "version": "2.0.0", "server": "https://example.test"}`,
	}
	for module, body := range plugins {
		if err := os.MkdirAll(filepath.Join(site, module), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(site, module, "pulumi-plugin.json"), body)
	}
	got, err := requiredPlugins(dir, filepath.Join(dir, ".venv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []*pulumirpc.PluginDependency{
		{Name: "docker", Kind: "resource", Version: "v5.1.0"},
		{Name: "github", Kind: "resource", Version: "v6.15.0"}, // no pulumi-plugin.json: named after the package
		{Name: "acme", Kind: "resource", Version: "v2.0.0", Server: "https://example.test"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Kind != w.Kind || g.Version != w.Version || g.Server != w.Server {
			t.Errorf("plugin %d: got %v, want %v", i, g, w)
		}
	}

	if _, err := requiredPlugins(t.TempDir(), filepath.Join(dir, ".venv")); err == nil ||
		!strings.Contains(err.Error(), "uv.lock") {
		t.Errorf("no uv.lock: want an error naming it, got %v", err)
	}
}

func TestUvSyncNeedsUv(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := uvSync(runtimeOptions{Root: t.TempDir(), Toolchain: "uv"}, "venv")
	if err == nil || !strings.Contains(err.Error(), "Could not find `uv` executable") {
		t.Errorf("want the real host's message, got %v", err)
	}
}

// For a uv project the launcher answers GetRequiredPlugins itself; the rest is relayed.
func TestRequiredPluginsAnsweredHere(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "uv.lock"), "version = 1\n\n[[package]]\nname = \"pulumi-command\"\nversion = \"1.2.1\"\n")
	c := launcherClient(t, requiredPluginsMethod(dir, filepath.Join(dir, ".venv")))
	got, err := c.GetRequiredPlugins(context.Background(), &pulumirpc.GetRequiredPluginsRequest{})
	if err != nil || len(got.GetPlugins()) != 1 || got.GetPlugins()[0].GetName() != "command" ||
		got.GetPlugins()[0].GetVersion() != "v1.2.1" {
		t.Fatalf("got %v %v", got, err)
	}
	if info, err := c.GetPluginInfo(context.Background(), &emptypb.Empty{}); err != nil || info.GetVersion() != "3.79.0" {
		t.Fatalf("the rest is relayed: %v %v", info, err)
	}
}
