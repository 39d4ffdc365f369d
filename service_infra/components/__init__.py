"""The Pulumi components: one job each, each taking one typed ``Args``; ``environment`` composes
them for one stack."""
