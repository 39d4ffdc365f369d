// Wrapper module that builds the provider plugin `pulumi-resource-github`
// at release v6.15.0 (the version the pulumi-github Python SDK 6.15.0 asks for).
// Used by toolchain/install.sh, which copies this folder to a build dir outside
// the repo, writes schema-embed.json next to main.go, and runs `go build .`.
module service-infra.invalid/toolchain/provider-github

go 1.26

require (
	// No provider/vX tags: pseudo-version of commit
	// e46c2bbdc297d05a418b40af162f1da43547819a (tag v6.15.0).
	github.com/pulumi/pulumi-github/provider/v6 v6.0.0-20260814162548-e46c2bbdc297
	github.com/integrations/terraform-provider-github/v6 v6.13.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.137.0
)

// pulumi-github requires the upstream provider as v6.0.0 and replaces it with its
// git submodule (../upstream), which at v6.15.0 is the unpatched upstream tag
// v6.13.0: point every required version at that release instead.
replace github.com/integrations/terraform-provider-github/v6 => github.com/integrations/terraform-provider-github/v6 v6.13.0

// Copied from pulumi-github's provider/go.mod at v6.15.0:
// terraform-exec v0.16.0 dropped the tfinstall package that an old dependency imports.
replace github.com/hashicorp/terraform-exec => github.com/hashicorp/terraform-exec v0.15.0

// Copied from pulumi-github's provider/go.mod: the bridge needs Pulumi's fork of the
// Terraform plugin SDK.
replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
