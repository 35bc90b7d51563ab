// One call of the gateway's local SOAP interface with node `soap`, built from the published WSDL.
//
// Input (stdin, JSON): {"wsdl", "key", "soap12", "operation", "args"}.
// Output (stdout, JSON): {"result": ...} or {"fault": {"code", "reason", "problem"}}.
// The dev CA comes from NODE_EXTRA_CA_CERTS; SOAP 1.2 uses forceSoap12Headers.
"use strict";

const soap = require("soap");

function readStdin() {
  return new Promise((resolve) => {
    let data = "";
    process.stdin.on("data", (chunk) => (data += chunk));
    process.stdin.on("end", () => resolve(JSON.parse(data)));
  });
}

function faultOf(error) {
  const fault = error && error.root && error.root.Envelope && error.root.Envelope.Body.Fault;
  if (!fault) {
    throw error;
  }
  const code = fault.faultcode || (fault.Code && fault.Code.Value);
  const subcode = fault.Code && fault.Code.Subcode ? fault.Code.Subcode.Value : undefined;
  const reason = fault.faultstring || (fault.Reason && fault.Reason.Text);
  const detail = fault.detail || fault.Detail || {};
  return { code, subcode, reason: typeof reason === "object" ? reason.$value : reason, problem: detail.problem };
}

async function main() {
  const input = await readStdin();
  const client = await soap.createClientAsync(input.wsdl, {
    forceSoap12Headers: Boolean(input.soap12),
  });
  client.addHttpHeader("Authorization", `Bearer ${input.key}`);
  try {
    const [result] = await client[`${input.operation}Async`](input.args);
    process.stdout.write(JSON.stringify({ result, request: client.lastRequest }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ fault: faultOf(error), request: client.lastRequest }));
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
