#!/usr/bin/env node
// The Cosmos-protocol server the wire suites run the real azure-cosmos SDK against: npm
// @vercel/cosmosdb-server (pinned in package.json), started on 127.0.0.1 over HTTPS with its self-signed
// certificate, plus the patches below. Each patch closes one known divergence from Cosmos DB, named and
// justified against Cosmos DB's documentation; the Python side (tests/wire/server.py) lists them too.
//
//   node tests/wire/cosmos_server.js [--port N] [--unpatched]     prints "Ready ... at 127.0.0.1:PORT" when listening
//
// The patches replace handler modules before the package's route table is built (routes.js reads each
// handler's `default` export once, at load), so the package's own files stay untouched.
"use strict";

const path = require("path");

const root = path.dirname(require.resolve("@vercel/cosmosdb-server/package.json"));
const lib = (name) => require(path.join(root, "lib", name));

const documentOperations = lib("handler/_document-operations");
const getPartitionFromHeader = lib("utils/get-partition-from-header");
const readItems = lib("handler/_read-items").default;
const cosmosQuery = require(require.resolve("@zeit/cosmosdb-query", { paths: [root] })).default;

// The package's json() reads the request stream once; a patched handler that read it already leaves the
// parsed body on the request for the original handler.
const jsonModule = lib("json");
const readJson = jsonModule.default;
jsonModule.default = (req) => (req.parsedBody !== undefined ? Promise.resolve(req.parsedBody) : readJson(req));

const PARTITION_KEY_HEADER = "x-ms-documentdb-partitionkey";

function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isTrue(req, name) {
  return String(header(req, name) || "").toLowerCase() === "true";
}

function partitionPath(collection) {
  const paths = ((collection.read() || {}).partitionKey || {}).paths || ["/id"];
  return paths[0].slice(1).split("/");
}

function partitionOf(collection, document) {
  return partitionPath(collection).reduce((value, key) => (value == null ? undefined : value[key]), document);
}

function requestPartition(req) {
  const raw = header(req, PARTITION_KEY_HEADER);
  if (!raw || raw === "[{}]") return undefined;
  const parsed = JSON.parse(raw);
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

// --- change-feed positions -------------------------------------------------------------------------------
// Every write to a collection's documents takes the next logical sequence number (LSN) of that collection,
// as Cosmos DB's change feed orders changes ("sorted by the order of modification", change-feed docs).
// The package keeps none; this records one per document on every create, replace and upsert.
const Items = lib("account/items").default;
const Documents = lib("account/documents").default;
const setItem = Items.prototype._set;
// Every item a transactional batch writes shares the batch's one LSN, as one transaction's changes do.
Items.prototype._set = function setWithSequenceNumber(data) {
  if (this instanceof Documents) {
    if (!this.inBatch) this.lsn = (this.lsn || 0) + 1;
    this.lsnByRid = this.lsnByRid || new Map();
    this.lsnByRid.set(data._rid, this.lsn);
  }
  return setItem.call(this, data);
};

// --- patch 1: a transactional batch is atomic ------------------------------------------------------------
// Cosmos DB: "If any operation fails, the entire transaction is rolled back" and the other operations
// answer 424 Failed Dependency (transactional-batch docs). The package applies the operations before the
// failing one and keeps them. This snapshots the collection's documents and restores them on a failure.
// --- patch 2: batch operations take the batch's partition key --------------------------------------------
// The SDK sends a batch's partition key once, in the request's x-ms-documentdb-partitionkey header, not on
// each operation (azure/cosmos/_base.py, _format_batch_operations); the package reads it per operation and
// fails (500) on a read, replace or delete. Cosmos DB also refuses a create whose item lies in another
// partition than the batch's (400).
// Cosmos DB: a transactional batch holds at most 100 operations (service quotas); more answers 400.
const MAX_BATCH_OPERATIONS = 100;
const BATCH_OPERATIONS = {
  Create: documentOperations.createOperation,
  Upsert: documentOperations.upsertOperation,
  Read: documentOperations.readOperation,
  Delete: documentOperations.deleteOperation,
  Replace: documentOperations.replaceOperation,
};

// Replaces the package's handler: after the body is read, everything runs synchronously, so no other
// request can interleave between the snapshot and its restore.
function batchDocuments(original) {
  return async (account, req, res, params) => {
    const body = await jsonModule.default(req);
    const collection = account.database(params.dbId).collection(params.collId);
    if (!collection.read() || !Array.isArray(body)) {
      req.parsedBody = body;
      return original(account, req, res, params);
    }
    const partitionHeader = header(req, PARTITION_KEY_HEADER);
    const batchPartition = requestPartition(req);
    const documents = collection.documents;
    const saved = {
      _data: new Map(documents._data),
      _index: new Map(documents._index),
      _ridCount: documents._ridCount,
      lsn: documents.lsn,
      lsnByRid: new Map(documents.lsnByRid || []),
    };
    if (body.length > MAX_BATCH_OPERATIONS) {
      res.statusCode = 400;
      return { code: "BadRequest", message: "Batch request has more operations than what is supported." };
    }
    const responses = [];
    let failed = -1;
    documents.lsn = (documents.lsn || 0) + 1;
    documents.inBatch = true;
    try {
      failed = applyBatch(collection, body, partitionHeader, batchPartition, responses);
    } catch (error) {
      Object.assign(documents, saved, { inBatch: false });
      throw error;
    }
    documents.inBatch = false;
    if (failed === -2) {
      Object.assign(documents, saved);
      res.statusCode = 400;
      return { message: "an operation type not supported in Batch" };
    }
    if (failed < 0) return responses;
    Object.assign(documents, saved);
    return body.map((_, index) =>
      index === failed ? { statusCode: responses[failed].statusCode, requestCharge: 0 } : { statusCode: 424, requestCharge: 0 },
    );
  };
}

// Applies a batch's operations in order into `responses`; the index of the first failing one, -1 when
// none failed, -2 for an operation type Batch does not take.
function applyBatch(collection, body, partitionHeader, batchPartition, responses) {
  for (const [index, input] of body.entries()) {
    const operation = BATCH_OPERATIONS[input && input.operationType];
    if (!operation) return -2;
    const item = input.resourceBody;
    const result =
      item && partitionOf(collection, item) !== batchPartition
        ? { statusCode: 400, body: { code: "BadRequest", message: "the item is not in the batch's partition" } }
        : operation(collection, { ...input, partitionKey: input.partitionKey ?? partitionHeader });
    responses.push({
      statusCode: result.statusCode,
      requestCharge: 1,
      eTag: result.body ? result.body._etag : undefined,
      resourceBody: result.body,
    });
    if (result.statusCode >= 400) return index;
  }
  return -1;
}

// --- patch 3: reading a missing item answers 404 ---------------------------------------------------------
// Cosmos DB answers a point read of an id that does not exist 404 Not Found; the package's handler reads a
// property of the missing item and answers 500.
function readDocument(original) {
  return (account, req, res, params) => {
    const collection = account.database(params.dbId).collection(params.collId);
    if (collection.read()) {
      const partitionKey = getPartitionFromHeader.default(req);
      const parsed = getPartitionFromHeader.parsePartitionKey(partitionKey, params.docId);
      if (!collection.document(params.docId, parsed).read()) {
        res.statusCode = 404;
        return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
      }
    }
    return original(account, req, res, params);
  };
}

// --- patch 4: a query with a partition key sees only that partition --------------------------------------
// Cosmos DB scopes a query sent with x-ms-documentdb-partitionkey to that logical partition, whatever its
// WHERE clause (query docs, "in-partition queries"), with or without the cross-partition flag; the package
// ignores the header, returns items of every partition, and refuses a query whose text does not name the
// partition key. This runs the query over that partition's items only. The undefined partition ([{}]) is
// not modelled: 501.
function queryDocuments(original) {
  return async (account, req, res, params) => {
    if (header(req, PARTITION_KEY_HEADER) === "[{}]") {
      res.statusCode = 501; // not modelled: a query of the undefined partition
      return { code: "NotImplemented", message: "not modelled by this server" };
    }
    const partition = requestPartition(req);
    if (partition === undefined) return original(account, req, res, params);
    return readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
      const body = await jsonModule.default(req);
      if (!body.query) {
        res.statusCode = 400;
        return { message: "missing query" };
      }
      const collection = account.database(params.dbId).collection(params.collId);
      if (!collection.read()) return null;
      const items = [...collection.documents._data.values()]
        .map((item) => item.read())
        .filter((item) => partitionOf(collection, item) === partition);
      const compositeIndexes = (collection.read().indexingPolicy || {}).compositeIndexes || [];
      try {
        return cosmosQuery(body.query).exec(items, {
          parameters: body.parameters,
          maxItemCount,
          continuation,
          compositeIndexes,
        });
      } catch (error) {
        res.statusCode = 400;
        return { code: "BadRequest", message: error.message };
      }
    });
  };
}

// --- patch 5: the change feed ----------------------------------------------------------------------------
// Cosmos DB's change feed (GET .../docs with "A-IM: Incremental feed"): the latest version of each changed
// item in modification order, x-ms-max-item-count per page, the page's last LSN as the ETag to send back in
// If-None-Match, and 304 Not Modified when nothing changed since it (change-feed pull model docs). The
// package answers a plain read of every document and a fixed ETag "1". Deletes do not appear (latest-version
// mode). A partition key header narrows the feed to that partition. One transaction's changes share an LSN
// and a page never splits them. Not modelled, and answered 501 so no test leans on them: a start time
// (If-Modified-Since) and the undefined partition.
function readDocuments(original) {
  return (account, req, res, params) => {
    if (!header(req, "a-im")) return original(account, req, res, params);
    if (header(req, "if-modified-since") || header(req, PARTITION_KEY_HEADER) === "[{}]") {
      res.statusCode = 501; // not modelled: a change feed from a point in time, or of the undefined partition
      return { code: "NotImplemented", message: "not modelled by this server" };
    }
    delete req.headers["a-im"]; // the package's response code would otherwise overwrite status and ETag
    const collection = account.database(params.dbId).collection(params.collId);
    if (!collection.read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
    const documents = collection.documents;
    const ifNoneMatch = header(req, "if-none-match");
    const current = documents.lsn || 0;
    let after = 0;
    if (ifNoneMatch === "*") after = current;
    else if (ifNoneMatch) after = parseInt(ifNoneMatch.replace(/"/g, ""), 10) || 0;
    const partition = requestPartition(req);
    const maxItemCount = parseInt(header(req, "x-ms-max-item-count") || "100", 10);
    const lsnByRid = documents.lsnByRid || new Map();
    const pending = [...documents._data.values()]
      .map((item) => item.read())
      .filter((item) => (lsnByRid.get(item._rid) || 0) > after)
      .filter((item) => partition === undefined || partitionOf(collection, item) === partition)
      .sort((a, b) => lsnByRid.get(a._rid) - lsnByRid.get(b._rid))
      .map((item) => ({ ...item, _lsn: lsnByRid.get(item._rid) }));
    // A page ends at a transaction's end: the max item count is a hint Cosmos DB exceeds rather than split
    // the changes of one transaction (one LSN) across pages.
    let size = Math.min(pending.length, maxItemCount > 0 ? maxItemCount : 100);
    while (size > 0 && size < pending.length && pending[size]._lsn === pending[size - 1]._lsn) size += 1;
    const changed = pending.slice(0, size);
    if (!changed.length) {
      res.statusCode = 304;
      res.setHeader("etag", `"${after}"`);
      return {};
    }
    res.setHeader("etag", `"${changed[changed.length - 1]._lsn}"`);
    res.setHeader("x-ms-item-count", String(changed.length));
    return { _rid: collection.read()._rid, Documents: changed, _count: changed.length };
  };
}

function patch(name, wrap) {
  const module = lib(`handler/${name}`);
  module.default = wrap(module.default);
}

const args = process.argv.slice(2);
// --unpatched serves the package as published: tests/wire/test_server.py shows each divergence on it.
if (!args.includes("--unpatched")) {
  patch("batch-documents", batchDocuments);
  patch("read-document", readDocument);
  patch("query-documents", queryDocuments);
  patch("read-documents", readDocuments);
}

const { createHttpsServer } = lib("index");

const portIndex = args.indexOf("--port");
const port = portIndex >= 0 ? parseInt(args[portIndex + 1], 10) : 0;
// Keep connections open as Cosmos DB does (the package closes each one, a TLS handshake per request).
const server = createHttpsServer({ keepAlive: true }).listen(port, "127.0.0.1", () => {
  const address = server.address();
  console.log(`Ready to accept HTTPS connections at ${address.address}:${address.port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
