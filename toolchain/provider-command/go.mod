// Wrapper module that builds the provider plugin `pulumi-resource-command`
// at release v1.2.1 (the version the pulumi-command Python SDK 1.2.1 asks for).
// Used by toolchain/install.sh (copied to a build dir outside the repo).
//
// The provider module has no tags of its own (provider/vX): this is the
// pseudo-version of commit 7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25 (tag v1.2.1).
// It has no replace lines; the wrapper exists only so go.sum can pin hashes.
module service-infra.invalid/toolchain/provider-command

go 1.26

tool github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command

require github.com/pulumi/pulumi-command/provider v0.0.0-20260303235922-7f3eb6f3b77c
