// Package provider holds our ProviderInfo for the bridged `github` Pulumi
// provider: integrations/terraform-provider-github v6.13.0 (SDKv2) mapped onto
// the tokens and property names that the pulumi_github 6.15.0 Python SDK uses.
//
// pulumi-github's own provider module cannot be fetched here (the module proxy
// refuses it), so this is a reimplementation of its ProviderInfo: the same
// standard tokens (`github:index/<camelName>:<Name>`, functions
// `github:index/get<Name>:get<Name>`) and the few name and shape overrides its
// SDK depends on. check_schema_names.py compares the generated schema with the
// installed Python SDK; keep it passing.
package provider

import (
	"github.com/integrations/terraform-provider-github/v6/github"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
)

// Version is the version of the pulumi_github SDK this provider stands in for:
// the engine asks for the plugin at exactly the SDK's version.
const Version = "6.15.0"

const (
	pkg = "github"
	mod = "index"
)

// list keeps a Terraform block with MaxItems: 1 a list, as the SDK has it (the
// bridge would otherwise flatten it to a single object). pulumi-github keeps
// these as lists because they were lists in earlier major versions.
func list() *tfbridge.SchemaInfo { return &tfbridge.SchemaInfo{MaxItemsOne: tfbridge.False()} }

// forceNewRepositories: on the organization secrets, as in pulumi-github, a change
// of selected_repository_ids replaces the secret.
func forceNewRepositories() map[string]*tfbridge.SchemaInfo {
	return map[string]*tfbridge.SchemaInfo{"selected_repository_ids": {ForceNew: tfbridge.True()}}
}

// Provider returns the bridge's description of the provider.
func Provider() tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		// The upstream provider reports this as its version in its User-Agent.
		P:                       shimv2.NewProvider(github.NewProvider(Version, "")()),
		Name:                    pkg,
		Version:                 Version,
		DisplayName:             "GitHub",
		Description:             "A Pulumi package for creating and managing github cloud resources.",
		Keywords:                []string{"pulumi", "github"},
		License:                 "Apache-2.0",
		Homepage:                "https://pulumi.io",
		Repository:              "https://github.com/pulumi/pulumi-github",
		GitHubOrg:               "integrations",
		TFProviderModuleVersion: "v6",
		Config: map[string]*tfbridge.SchemaInfo{
			"base_url": {
				Default: &tfbridge.DefaultInfo{
					EnvVars: []string{"GITHUB_BASE_URL"},
					Value:   "https://api.github.com/",
				},
			},
			"token": {
				Default: &tfbridge.DefaultInfo{EnvVars: []string{"GITHUB_TOKEN"}},
				Secret:  tfbridge.True(),
			},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			// A secret's name is unique in its environment: replace by delete, then create.
			"github_actions_environment_secret": {DeleteBeforeReplace: true},
			// The SDK's `reviewers` is a list of one {users, teams} object.
			"github_repository_environment": {
				Fields: map[string]*tfbridge.SchemaInfo{"reviewers": list()},
			},
			"github_repository_collaborator":       {DeleteBeforeReplace: true},
			"github_repository_deploy_key":         {DeleteBeforeReplace: true},
			"github_repository_autolink_reference": {DeleteBeforeReplace: true},

			"github_actions_organization_secret":    {Fields: forceNewRepositories()},
			"github_codespaces_organization_secret": {Fields: forceNewRepositories()},
			"github_dependabot_organization_secret": {Fields: forceNewRepositories()},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			// The one function whose name is not the standard one (getApp).
			"github_app": {Tok: "github:index/getGithubApp:getGithubApp"},
		},
		Python: &tfbridge.PythonInfo{},

		EnableZeroDefaultSchemaVersion: true,
		EnableAccurateBridgePreview:    true,
		EnableRawStateDelta:            true,
	}

	// Every other resource and function gets the standard token, as in pulumi-github:
	// github_foo_bar -> github:index/fooBar:FooBar, data source -> github:index/getFooBar:getFooBar.
	prov.MustComputeTokens(tokens.SingleModule("github_", mod, tokens.MakeStandard(pkg)))

	// Like pulumi-github: a `name` left unset gets "<resource name>-<random>".
	prov.SetAutonaming(255, "-")

	return prov
}
