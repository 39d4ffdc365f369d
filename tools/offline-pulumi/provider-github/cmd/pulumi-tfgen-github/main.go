// pulumi-tfgen-github generates the Pulumi schema of the bridged github
// provider (build.sh runs `pulumi-tfgen-github schema --out DIR`).
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"service-infra.invalid/toolchain/provider-github/provider"
)

func main() {
	tfgen.Main("github", provider.Version, provider.Provider())
}
