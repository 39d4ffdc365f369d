// pulumi-resource-github is the provider plugin. build.sh writes
// schema-embed.json (the generated schema with "version" set) next to this
// file in its build copy before compiling.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"service-infra.invalid/toolchain/provider-github/provider"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("github", provider.Version, provider.Provider(), pulumiSchema)
}
