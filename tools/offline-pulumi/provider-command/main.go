// pulumi-resource-command: service-infra's own build of the Pulumi "command"
// resource provider, version 1.2.1, implementing `command:local:Command` the way
// the pulumi-command 1.2.1 Python SDK calls it (see README in toolchain/ and
// command.go for the semantics). Install it with
//
//	pulumi plugin install resource command 1.2.1 --file pulumi-resource-command
package main

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is what GetPluginInfo and the schema report. It must equal the version
// the pulumi-command Python SDK asks for (its pulumi-plugin.json): 1.2.1.
// build.sh sets it with -ldflags "-X main.version=1.2.1".
var version = "1.2.1"

// environ is the environment commands start from (a variable for tests).
var environ = os.Environ

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return newProvider(host), nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}
