// The Azure driver's configuration: which tenant, app registration and subscription it signs in to, the region
// ranges go to, and how it talks to ARM (endpoints for a sovereign cloud or a test server, timeouts, polling).
// The client secret is never here: it comes sealed in the platform record (deps.secret).
import { z } from 'zod';

const uuid = z
  .string()
  .regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    'a GUID, e.g. 00000000-0000-0000-0000-000000000000',
  );
const httpsUrl = z.url().refine((u) => u.startsWith('https://'), 'an https:// URL');

export const azureConfigSchema = z.object({
  /** The directory (tenant) id, or its domain (contoso.onmicrosoft.com). */
  tenantId: z
    .string()
    .regex(
      /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9][a-z0-9.-]*\.[a-z]{2,})$/i,
      'a tenant GUID or domain',
    ),
  /** The application (client) id of the app registration Glassdome signs in as. */
  clientId: uuid,
  subscriptionId: uuid,
  /** The region ranges are created in, e.g. `westeurope` (`az account list-locations -o table`). */
  location: z.string().regex(/^[a-z][a-z0-9]+$/, 'a region name such as westeurope'),
  /** Azure Resource Manager; another cloud's (https://management.usgovcloudapi.net) or a test server. */
  armEndpoint: httpsUrl.default('https://management.azure.com'),
  /** Microsoft Entra ID; another cloud's (https://login.microsoftonline.us) or a test server. */
  authorityHost: httpsUrl.optional(),
  /** A PEM file of extra CAs to trust for both endpoints (a TLS-inspecting proxy, a test server). */
  caFile: z.string().min(1).optional(),
  /** The size every machine gets, instead of the smallest one that fits its CPUs, memory and NICs. */
  vmSize: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .optional(),
  /** Catalog OS key -> image (`publisher:offer:sku[:version]` or an image/gallery resource id), over the defaults. */
  images: z.record(z.string(), z.string().min(1)).default({}),
  /** OS disk type. */
  diskType: z.enum(['Standard_LRS', 'StandardSSD_LRS', 'Premium_LRS']).default('StandardSSD_LRS'),
  /** The admin account Azure requires on every VM; first boot creates the scenario's own users. */
  adminUsername: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a lowercase Linux user name')
    .default('gdadmin'),
  /** Long-running operations are polled this often unless Azure says otherwise (Retry-After). */
  pollIntervalMs: z.number().int().min(1).default(2000),
  /** VM creations take a minute or more: polled this often (ARM limits reads per subscription). */
  vmPollIntervalMs: z.number().int().min(1).default(5000),
  /** Other waits poll more and more rarely, up to this interval. */
  pollMaxMs: z.number().int().min(1).default(15_000),
  /** SDK retries of one request: 429 after its Retry-After, 5xx and network errors with exponential backoff. */
  maxRetries: z.number().int().min(0).max(20).default(6),
  /** Re-PUTs of a VM whose creation failed for lack of capacity (AllocationFailed and the like). */
  capacityRetries: z.number().int().min(0).max(10).default(2),
  timeouts: z
    .object({
      /** One HTTP request. */
      requestMs: z.number().int().positive().default(60_000),
      /** One long-running operation (a VM creation, a resource group deletion). */
      operationMs: z
        .number()
        .int()
        .positive()
        .default(30 * 60_000),
    })
    .prefault({}),
});

export type AzureConfig = z.output<typeof azureConfigSchema>;
export type AzureConfigInput = z.input<typeof azureConfigSchema>;
