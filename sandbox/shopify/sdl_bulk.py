"""Admin GraphQL SDL for bulk operations and staged uploads, added to :mod:`sandbox.shopify.schema`
(``extend type QueryRoot``/``extend type Mutation`` and the types they need).

Names follow Shopify's Admin API: ``stagedUploadsCreate`` answers ``StagedMediaUploadTarget``s,
``bulkOperationRunMutation`` a ``BulkOperation`` (or ``BulkMutationUserError``s), and
``currentBulkOperation(type:)`` defaults to ``QUERY`` as in Shopify's schema. The text is
%-formatted with the base SDL, so a literal percent sign must be written twice.
"""

BULK_SDL = """
interface Node { id: ID! }

enum StagedUploadTargetGenerateUploadResource {
  BULK_MUTATION_VARIABLES COLLECTION_IMAGE FILE IMAGE MODEL_3D PRODUCT_IMAGE RETURN_LABEL
  SHOP_IMAGE URL_REDIRECT_IMPORT VIDEO
}
enum StagedUploadHttpMethodType { POST PUT }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkMutationErrorCode {
  INTERNAL_FILE_SERVER_ERROR INVALID_MUTATION INVALID_STAGED_UPLOAD_FILE LIMIT_REACHED
  NO_SUCH_FILE OPERATION_IN_PROGRESS
}
enum BulkOperationUserErrorCode { INVALID }

input StagedUploadInput {
  resource: StagedUploadTargetGenerateUploadResource!
  filename: String!
  mimeType: String!
  httpMethod: StagedUploadHttpMethodType = PUT
  fileSize: UnsignedInt64
}

type StagedUploadParameter { name: String! value: String! }
type StagedMediaUploadTarget {
  url: URL
  resourceUrl: URL
  parameters: [StagedUploadParameter!]!
}
type StagedUploadsCreatePayload {
  stagedTargets: [StagedMediaUploadTarget!]
  userErrors: [UserError!]!
}

type BulkOperation implements Node {
  id: ID!
  status: BulkOperationStatus!
  type: BulkOperationType!
  errorCode: BulkOperationErrorCode
  createdAt: DateTime!
  completedAt: DateTime
  objectCount: UnsignedInt64!
  rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64
  url: URL
  partialDataUrl: URL
  query: String!
}

type BulkMutationUserError { field: [String!] message: String! code: BulkMutationErrorCode }
type BulkOperationUserError {
  field: [String!] message: String! code: BulkOperationUserErrorCode
}
type BulkOperationRunMutationPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkMutationUserError!]!
}
type BulkOperationCancelPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}

extend type QueryRoot {
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  node(id: ID!): Node
}

extend type Mutation {
  stagedUploadsCreate(input: [StagedUploadInput!]!): StagedUploadsCreatePayload
  bulkOperationRunMutation(
    mutation: String!, stagedUploadPath: String!, clientIdentifier: String,
    groupObjects: Boolean = true
  ): BulkOperationRunMutationPayload
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
}
"""
