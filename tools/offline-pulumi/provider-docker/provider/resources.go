// Package provider holds our ProviderInfo for the bridged `docker` Pulumi
// provider: kreuzwerker's Terraform provider (SDKv2 part) mapped onto the
// tokens and property names that the pulumi_docker 5.1.0 Python SDK uses.
//
// pulumi-docker's own provider module cannot be fetched here, so this is a
// reimplementation of its bridged half (its native `docker:index/image:Image`
// resource, built on buildx, is not provided). check_schema_names.py compares the
// generated schema with the installed Python SDK; keep it passing.
package provider

import (
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	// Exists only in the build copy: build.sh adds shim.go.in to the upstream
	// module copied out of the module cache (the provider package is internal).
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is the version of the pulumi_docker SDK this provider stands in for:
// the engine asks for the plugin at exactly the SDK's version.
const Version = "5.1.0"

const (
	pkg = "docker"
	mod = "index"
)

func member(name string) string {
	return pkg + ":" + mod + "/" + string(unicode.ToLower(rune(name[0]))) + name[1:] + ":" + name
}

func resource(name string) tokens.Type { return tokens.Type(member(name)) }

func dataSource(name string) tokens.ModuleMember { return tokens.ModuleMember(member(name)) }

// Provider returns the bridge's description of the provider.
func Provider() tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(shim.NewProvider()),
		Name:        pkg,
		Version:     Version,
		DisplayName: "Docker",
		Description: "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:    []string{"docker"},
		License:     "Apache-2.0",
		Publisher:   "Pulumi",
		Repository:  "https://github.com/pulumi/pulumi-docker",
		GitHubOrg:   "kreuzwerker",
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {
				Default: &tfbridge.DefaultInfo{
					Value:   "unix:///var/run/docker.sock",
					EnvVars: []string{"DOCKER_HOST"},
				},
			},
			// A set of blocks; the SDK calls it registryAuth (not plural).
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_buildx_builder": {Tok: resource("BuildxBuilder")},
			"docker_config":         {Tok: resource("ServiceConfig")},
			"docker_container": {
				Tok: resource("Container"),
				// A container's name is unique on the engine: a replacement must
				// remove the old container first.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// One command (argv), not a list of commands.
					"command": {Name: "command"},
					// Named like a single block in TF although it is a list.
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok: resource("RemoteImage"),
				// The image reference, not an auto-named resource name.
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_network":        {Tok: resource("Network")},
			"docker_plugin":         {Tok: resource("Plugin")},
			"docker_registry_image": {Tok: resource("RegistryImage")},
			"docker_secret":         {Tok: resource("Secret")},
			"docker_service":        {Tok: resource("Service")},
			"docker_tag":            {Tok: resource("Tag")},
			"docker_volume":         {Tok: resource("Volume")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    {Tok: dataSource("getRemoteImage")},
			"docker_logs":                     {Tok: dataSource("getLogs")},
			"docker_network":                  {Tok: dataSource("getNetwork")},
			"docker_plugin":                   {Tok: dataSource("getPlugin")},
			"docker_registry_image":           {Tok: dataSource("getRegistryImage")},
			"docker_registry_image_manifests": {Tok: dataSource("getRegistryImageManifests")},
		},
		Python: &tfbridge.PythonInfo{},
	}

	// Like pulumi-docker: a `name` left unset gets "<resource name>-<random>".
	prov.SetAutonaming(255, "-")

	return prov
}
