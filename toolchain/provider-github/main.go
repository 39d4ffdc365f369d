// Entry point of pulumi-resource-github, built by toolchain/install.sh.
//
// The provider's own cmd/pulumi-resource-github main package embeds a generated
// schema-embed.json that is not in the module zip, so it can't be built from the
// module proxy as is. install.sh writes schema-embed.json next to this file (the
// provider's committed schema.json with "version" set) in its build dir.
package main

import (
	_ "embed"

	github "github.com/pulumi/pulumi-github/provider/v6"
	"github.com/pulumi/pulumi-github/provider/v6/pkg/version"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("github", version.Version, github.Provider(), pulumiSchema)
}
