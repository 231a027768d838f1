#!/usr/bin/env node
// Validates an AsyncAPI document with the AsyncAPI project's own parser (npm @asyncapi/parser, pinned in
// package.json): prints every diagnostic, exits 1 on any error. tests/tools/test_asyncapi.py runs it.
"use strict";

const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

(async () => {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(process.argv[2], "utf8"));
  const severities = ["error", "warning", "info", "hint"];
  for (const d of diagnostics) console.log(`${severities[d.severity]} ${d.code} ${d.path.join(".")}: ${d.message}`);
  if (!document || diagnostics.some((d) => d.severity === 0)) process.exit(1);
  console.log(`valid: ${document.channels().length} channels, ${document.messages().length} messages`);
})();
