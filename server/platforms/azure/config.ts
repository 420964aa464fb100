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
  tenantId: z
    .string()
    .regex(
      /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9][a-z0-9.-]*\.[a-z]{2,})$/i,
      'a tenant GUID or domain',
    )
    .describe('The directory (tenant) id, a GUID, or its domain such as contoso.onmicrosoft.com.'),
  clientId: uuid.describe(
    "The application (client) id of the app registration Glassdome signs in as; its client secret's Value is the " +
      'secret.',
  ),
  subscriptionId: uuid.describe(
    'The subscription ranges are created in (a GUID); the app needs Contributor there, or a role like it.',
  ),
  location: z
    .string()
    .regex(/^[a-z][a-z0-9]+$/, 'a region name such as westeurope')
    .describe('The region ranges are created in, e.g. westeurope (az account list-locations -o table).'),
  armEndpoint: httpsUrl
    .default('https://management.azure.com')
    .describe(
      "Azure Resource Manager's address: another cloud's (https://management.usgovcloudapi.net) or a test server.",
    ),
  authorityHost: httpsUrl
    .optional()
    .describe(
      "Microsoft Entra ID's address for another cloud, e.g. https://login.microsoftonline.us (instance discovery " +
        "is then skipped). Empty: Azure's public cloud.",
    ),
  caFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Path on the appliance of a PEM file of extra CAs to trust for Resource Manager and Entra ID ' +
        '(a TLS-inspecting proxy, a test server).',
    ),
  vmSize: z
    .string()
    .regex(/^[A-Za-z0-9_]+$/)
    .optional()
    .describe(
      "One size for every machine, e.g. Standard_B2ms. Empty: the smallest size that fits each machine's CPUs, " +
        'memory and NICs.',
    ),
  images: z
    .record(z.string(), z.string().min(1))
    .default({})
    .describe(
      'Catalog OS -> image (publisher:offer:sku[:version], or an image or gallery image resource id), over the ' +
        'built-in ones, as JSON, e.g. {"kali-rolling": "kali-linux:kali:kali-2025-4"}.',
    ),
  diskType: z
    .enum(['Standard_LRS', 'StandardSSD_LRS', 'Premium_LRS'])
    .default('StandardSSD_LRS')
    .describe(
      "Every VM's OS disk type: Standard_LRS (standard HDD), StandardSSD_LRS (standard SSD) " +
        'or Premium_LRS (premium SSD).',
    ),
  adminUsername: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a lowercase Linux user name')
    .default('gdadmin')
    .describe(
      'The admin account Azure requires on every VM (a lowercase Linux user name); it gets an SSH key whose ' +
        "private half is discarded. The scenario's own users come from first boot.",
    ),
  pollIntervalMs: z
    .number()
    .int()
    .min(1)
    .default(2000)
    .describe(
      'Milliseconds between polls of a long-running operation when Azure sends no Retry-After; the serial console ' +
        'is read this often too.',
    ),
  vmPollIntervalMs: z
    .number()
    .int()
    .min(1)
    .default(5000)
    .describe(
      'Milliseconds between polls of a VM creation, which takes a minute or more (ARM limits reads per ' +
        'subscription).',
    ),
  pollMaxMs: z
    .number()
    .int()
    .min(1)
    .default(15_000)
    .describe(
      "Other waits (addresses, a resource group's deletion) poll more and more rarely, up to this many milliseconds.",
    ),
  maxRetries: z
    .number()
    .int()
    .min(0)
    .max(20)
    .default(6)
    .describe(
      'Retries of one request (0-20): a 429 after its Retry-After; 5xx and network errors with exponential backoff.',
    ),
  capacityRetries: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(2)
    .describe('New attempts (0-10) at creating a VM that failed for lack of capacity (AllocationFailed and the like).'),
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
    .prefault({})
    .describe(
      'Time limits as JSON: {"requestMs": 60000, "operationMs": 1800000} (the defaults): one HTTP request, ' +
        'one long-running operation such as a VM creation or a resource group deletion.',
    ),
});

export type AzureConfig = z.output<typeof azureConfigSchema>;
export type AzureConfigInput = z.input<typeof azureConfigSchema>;
