// pulumi-tfgen-docker generates the Pulumi schema of the bridged docker
// provider (build.sh runs `pulumi-tfgen-docker schema --out DIR`).
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"service-infra.invalid/toolchain/provider-docker/provider"
)

func main() {
	tfgen.Main("docker", provider.Version, provider.Provider())
}
