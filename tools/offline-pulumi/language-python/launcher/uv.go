// `toolchain: uv`, as the real v3.259.0 host runs it (sdk/v3's python/toolchain/uv.go):
// the virtualenv is `virtualenv`, else UV_PROJECT_ENVIRONMENT, else .venv beside the nearest
// uv.lock; `uv sync --inexact` brings it up to date before Python runs when the project has a
// pyproject.toml; and the Pulumi packages come from uv.lock, not from `pip list` (which the
// v3.79.0 host would run at every `up` and `preview`, and which a uv virtualenv lacks).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"google.golang.org/grpc"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// packagesWithoutPlugins: Pulumi packages known to have no provider (as in the real host).
var packagesWithoutPlugins = map[string]bool{"pulumi-policy": true}

// searchUp is the directory, from dir upwards, that holds name ("" when none does).
func searchUp(dir, name string) string {
	for {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// uvVirtualenv is the virtualenv a uv project at root runs in.
func uvVirtualenv(opts runtimeOptions) string {
	venv := opts.Virtualenv
	base := opts.Root
	if venv == "" {
		if lock := searchUp(opts.Root, "uv.lock"); lock != "" {
			base = lock
		} else if pyproject := searchUp(opts.Root, "pyproject.toml"); pyproject != "" {
			base = pyproject
		}
		venv = ".venv"
		if env := os.Getenv("UV_PROJECT_ENVIRONMENT"); env != "" {
			venv = env
		}
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(base, venv)
	}
	return venv
}

// uvSync runs `uv sync --inexact` for a project with a pyproject.toml, as the real host does
// before it runs Python; it needs uv on PATH, as the real host does.
func uvSync(opts runtimeOptions, venv string) error {
	if _, err := exec.LookPath("uv"); err != nil {
		return errors.New("Could not find `uv` executable.\nInstall uv and make sure it is in your PATH.")
	}
	if searchUp(opts.Root, "pyproject.toml") == "" {
		return nil
	}
	cmd := exec.Command("uv", "sync", "--inexact")
	cmd.Dir = opts.Root
	cmd.Env = append(os.Environ(), "UV_PROJECT_ENVIRONMENT="+venv)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("error creating virtual environment: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lockedPackage is one [[package]] of uv.lock.
type lockedPackage struct {
	Name    string         `toml:"name"`
	Version string         `toml:"version"`
	Source  map[string]any `toml:"source"`
}

// lockedPackages are the packages uv.lock (in root or above) installs, the project's own
// (virtual or editable) left out.
func lockedPackages(root string) ([]lockedPackage, error) {
	dir := searchUp(root, "uv.lock")
	if dir == "" {
		return nil, fmt.Errorf("could not find uv.lock in %s or above", root)
	}
	var lock struct {
		Package []lockedPackage `toml:"package"`
	}
	path := filepath.Join(dir, "uv.lock")
	if _, err := toml.DecodeFile(path, &lock); err != nil {
		return nil, fmt.Errorf("could not read %s: %w", path, err)
	}
	var pkgs []lockedPackage
	for _, p := range lock.Package {
		if _, ok := p.Source["virtual"]; ok {
			continue
		}
		if _, ok := p.Source["editable"]; ok {
			continue
		}
		p.Name = strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(p.Name))
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// requiredPlugins are the provider plugins of the Pulumi packages in uv.lock, by the v3.79.0
// host's rules: a package's pulumi-plugin.json (in the virtualenv) names its plugin, else a
// `pulumi-NAME` package is plugin NAME at the package's version.
func requiredPlugins(root, venv string) ([]*pulumirpc.PluginDependency, error) {
	pkgs, err := lockedPackages(root)
	if err != nil {
		return nil, err
	}
	sites, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages"))
	var deps []*pulumirpc.PluginDependency
	for _, pkg := range pkgs {
		if packagesWithoutPlugins[pkg.Name] {
			continue
		}
		var meta *plugin.PulumiPluginJSON
		for _, site := range sites {
			path := filepath.Join(site, strings.ReplaceAll(pkg.Name, "-", "_"), "pulumi-plugin.json")
			if meta, err = plugin.LoadPulumiPluginJSON(path); err == nil {
				break
			} else if !os.IsNotExist(err) {
				return nil, fmt.Errorf("reading %s: %w", path, err)
			}
			meta = nil
		}
		if meta == nil && !strings.HasPrefix(pkg.Name, "pulumi-") {
			continue
		}
		name, version, server := strings.TrimPrefix(pkg.Name, "pulumi-"), pkg.Version, ""
		if meta != nil {
			if !meta.Resource {
				continue
			}
			if meta.Name != "" {
				name = meta.Name
			}
			if meta.Version != "" {
				version = meta.Version
			}
			server = meta.Server
		}
		if !strings.HasPrefix(version, "v") {
			version = "v" + version
		}
		deps = append(deps, &pulumirpc.PluginDependency{Name: name, Kind: "resource", Version: version, Server: server})
	}
	return deps, nil
}

// requiredPluginsMethod answers GetRequiredPlugins for a uv project (registered only for one).
func requiredPluginsMethod(root, venv string) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: "GetRequiredPlugins",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(pulumirpc.GetRequiredPluginsRequest)); err != nil {
				return nil, err
			}
			deps, err := requiredPlugins(root, venv)
			if err != nil {
				return nil, err
			}
			return &pulumirpc.GetRequiredPluginsResponse{Plugins: deps}, nil
		},
	}
}
