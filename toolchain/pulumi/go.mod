// Wrapper module that builds the Pulumi CLI (`pulumi`) from the Go module proxy.
// Used by toolchain/install.sh, which copies this folder to a build dir outside
// the repo and runs `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi` there.
//
// Why a wrapper: pkg/v3's own go.mod has `replace` lines, so
// `go install github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v3.260.0` is refused.
// Replaces only apply in the main module, so the non-local ones are copied here.
module service-infra.invalid/toolchain/pulumi

go 1.26

tool github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

require (
	// tag pkg/v3.260.0 = commit 22df62fcb27a8482225087c1f739680ad18df0c3.
	github.com/pulumi/pulumi/pkg/v3 v3.260.0
	// pkg/v3 replaces sdk/v3 with its sibling folder (../sdk): the same
	// release of the SDK is the equivalent.
	github.com/pulumi/pulumi/sdk/v3 v3.260.0
)

// Copied from pkg/v3's go.mod: the CLI uses a fork of the clipboard package.
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
