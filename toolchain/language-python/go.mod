// Wrapper module that builds the Python language host (`pulumi-language-python`).
// Used by toolchain/install.sh (copied to a build dir outside the repo).
//
// The language host is its own module with no tags: this is the pseudo-version
// of commit 22df62fcb27a8482225087c1f739680ad18df0c3, the commit of tag
// pkg/v3.260.0, so it matches the CLI. Its go.mod replaces pkg/v3 and sdk/v3
// with sibling folders (hence the wrapper): require the same release instead.
module service-infra.invalid/toolchain/language-python

go 1.26

tool github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3

require (
	github.com/pulumi/pulumi/pkg/v3 v3.260.0
	github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 v3.0.0-20260828130136-22df62fcb27a
	github.com/pulumi/pulumi/sdk/v3 v3.260.0
)

// Copied from the language host's go.mod (same fork as the CLI uses).
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
