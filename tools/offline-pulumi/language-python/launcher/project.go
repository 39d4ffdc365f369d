// Reading the runtime options of the project the language host runs for.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// projectFiles are the files that hold a runtime section, in the order looked for
// in each directory from the working directory upwards.
var projectFiles = []string{"Pulumi.yaml", "Pulumi.yml", "PulumiPolicy.yaml", "PulumiPolicy.yml"}

// runtimeOptions is what the launcher needs from a project file.
type runtimeOptions struct {
	Root       string // the directory of the project file ("" when none was found)
	Virtualenv string // runtime.options.virtualenv ("" when unset)
	Toolchain  string // runtime.options.toolchain ("" when unset)
}

// projectFile is the part of Pulumi.yaml read here. runtime is either a name
// ("python") or {name, options}.
type projectFile struct {
	Runtime yaml.Node `yaml:"runtime"`
}

// findProject walks up from dir to the first directory holding a project file.
func findProject(dir string) (string, error) {
	for {
		for _, name := range projectFiles {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// parseRuntime reads the runtime options of the project file at path.
func parseRuntime(path string) (runtimeOptions, error) {
	opts := runtimeOptions{Root: filepath.Dir(path)}
	b, err := os.ReadFile(path)
	if err != nil {
		return opts, err
	}
	var pf projectFile
	if err := yaml.Unmarshal(b, &pf); err != nil {
		return opts, fmt.Errorf("%s: %w", path, err)
	}
	if pf.Runtime.Kind != yaml.MappingNode {
		return opts, nil // `runtime: python` or none: no options
	}
	var rt struct {
		Options map[string]any `yaml:"options"`
	}
	if err := pf.Runtime.Decode(&rt); err != nil {
		return opts, fmt.Errorf("%s: runtime: %w", path, err)
	}
	get := func(key string) (string, error) {
		v, ok := rt.Options[key]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s: runtime.options.%s must be a string", path, key)
		}
		return s, nil
	}
	if opts.Virtualenv, err = get("virtualenv"); err != nil {
		return opts, err
	}
	if opts.Toolchain, err = get("toolchain"); err != nil {
		return opts, err
	}
	switch opts.Toolchain {
	case "", "pip", "uv":
	default:
		return opts, fmt.Errorf("%s: runtime.options.toolchain %q is not supported by this Python "+
			"language host (the launcher of the v3.79.0 host that tools/offline-pulumi builds knows pip "+
			"and uv); use `toolchain: uv` or `toolchain: pip` with `virtualenv: <dir>`", path, opts.Toolchain)
	}
	return opts, nil
}

// virtualenv is the virtualenv the program runs in ("" for pip without one: the system python).
func (opts runtimeOptions) virtualenv() string {
	if opts.Toolchain == "uv" {
		return uvVirtualenv(opts)
	}
	venv := opts.Virtualenv
	if venv != "" && !filepath.IsAbs(venv) && opts.Root != "" {
		venv = filepath.Join(opts.Root, venv)
	}
	return venv
}

// hostArgs are the flags for the v3.79.0 host, before the CLI's own arguments.
func hostArgs(opts runtimeOptions, executor string) []string {
	var args []string
	if opts.Root != "" {
		args = append(args, "-root="+opts.Root)
	}
	if venv := opts.virtualenv(); venv != "" {
		args = append(args, "-virtualenv="+venv)
	}
	return append(args, "-use-executor="+executor)
}
