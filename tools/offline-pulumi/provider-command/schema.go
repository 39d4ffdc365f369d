package main

import "encoding/json"

// schemaJSON is a minimal Pulumi package schema: the package and its one
// resource, command:local:Command, with the inputs and outputs of the 1.2.1 SDK.
// The engine asks for it only for schema-driven features (e.g.
// `pulumi package get-schema`); the Python SDK is generated already.
func schemaJSON() (string, error) {
	str := map[string]any{"type": "string"}
	strs := map[string]any{"type": "array", "items": str}
	inputs := map[string]any{
		keyCreate:      doc(str, "The command to run once on resource creation."),
		keyUpdate:      doc(str, "The command to run when the resource is updated; if empty, create runs."),
		keyDelete:      doc(str, "The command to run on resource deletion."),
		keyDir:         doc(str, "The directory from which to run the command from."),
		keyStdin:       doc(str, "Pass a string to the command's process as standard in."),
		keyInterpreter: doc(strs, "The program and arguments to run the command. Defaults to [\"/bin/sh\", \"-c\"]."),
		keyEnvironment: doc(map[string]any{"type": "object", "additionalProperties": str},
			"Additional environment variables available to the command's process."),
		keyTriggers: doc(map[string]any{"type": "array", "items": map[string]any{"$ref": "pulumi.json#/Any"}},
			"The resource is replaced if any of these values change."),
		keyLogging: doc(map[string]any{"$ref": "#/types/command:local:Logging"},
			"If the command's stdout and stderr should be logged. Defaults to stdoutAndStderr."),
		keyAddPreviousOutputInEnv: doc(map[string]any{"type": "boolean", "default": true},
			"If the previous run's stdout and stderr are passed as PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR."),
		keyAssetPaths:   doc(strs, "Not supported by this build (rejected by Check)."),
		keyArchivePaths: doc(strs, "Not supported by this build (rejected by Check)."),
	}
	outputs := map[string]any{
		keyStdout: doc(str, "The standard output of the command's process."),
		keyStderr: doc(str, "The standard error of the command's process."),
	}
	for k, v := range inputs {
		outputs[k] = v
	}
	spec := map[string]any{
		"name":        "command",
		"displayName": "Command",
		"version":     version,
		"description": "service-infra's own build of the command provider (local commands only).",
		"meta":        map[string]any{"moduleFormat": "(.*)"},
		"types": map[string]any{
			"command:local:Logging": map[string]any{
				"type": "string",
				"enum": []any{
					map[string]any{"value": logStdout}, map[string]any{"value": logStderr},
					map[string]any{"value": logStdoutAndStderr}, map[string]any{"value": logNone},
				},
			},
		},
		"resources": map[string]any{
			commandType: map[string]any{
				"description":     "A local command to be executed.",
				"inputProperties": inputs,
				"properties":      outputs,
				"required":        []string{keyStdout, keyStderr},
			},
		},
	}
	b, err := json.Marshal(spec)
	return string(b), err
}

func doc(t map[string]any, description string) map[string]any {
	out := map[string]any{"description": description}
	for k, v := range t {
		out[k] = v
	}
	return out
}
