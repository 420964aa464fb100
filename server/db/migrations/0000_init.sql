CREATE TABLE `cidr_pools` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cidr` text NOT NULL,
	`subnet_prefix` integer DEFAULT 24 NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cidr_pools_cidr_unique` ON `cidr_pools` (`cidr`);--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`scenario_name` text NOT NULL,
	`scenario_file` text NOT NULL,
	`scenario_yaml` text NOT NULL,
	`platform_id` text NOT NULL,
	`instances` integer NOT NULL,
	`state` text NOT NULL,
	`plan` text NOT NULL,
	`secret` text NOT NULL,
	`error` text,
	`lease_owner` text,
	`lease_until` integer,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`finished_at` text,
	FOREIGN KEY (`platform_id`) REFERENCES `platforms`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `deployments_state` ON `deployments` (`state`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`deployment_id` text NOT NULL,
	`at` text NOT NULL,
	`type` text NOT NULL,
	`step_key` text,
	`message` text NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `events_deployment` ON `events` (`deployment_id`,`id`);--> statement-breakpoint
CREATE TABLE `platforms` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`config` text NOT NULL,
	`secret` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `platforms_name_unique` ON `platforms` (`name`);--> statement-breakpoint
CREATE TABLE `resources` (
	`deployment_id` text NOT NULL,
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`external_id` text,
	`addresses` text,
	`state` text NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`deployment_id`, `key`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sim_machines` (
	`platform_id` text NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`deployment_id` text NOT NULL,
	`power` text NOT NULL,
	`cpus` integer NOT NULL,
	`memory_mb` integer NOT NULL,
	`addresses` text NOT NULL,
	`snapshots` text NOT NULL,
	`busy_until` integer NOT NULL,
	`storage` text NOT NULL,
	`ready_at` integer,
	`address_at` integer,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`platform_id`, `id`)
);
--> statement-breakpoint
CREATE INDEX `sim_machines_name` ON `sim_machines` (`platform_id`,`name`);--> statement-breakpoint
CREATE INDEX `sim_machines_deployment` ON `sim_machines` (`platform_id`,`deployment_id`);--> statement-breakpoint
CREATE TABLE `sim_networks` (
	`platform_id` text NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`deployment_id` text NOT NULL,
	`vlan` integer,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	PRIMARY KEY(`platform_id`, `id`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sim_networks_name` ON `sim_networks` (`platform_id`,`name`);--> statement-breakpoint
CREATE TABLE `steps` (
	`deployment_id` text NOT NULL,
	`key` text NOT NULL,
	`kind` text NOT NULL,
	`target` text NOT NULL,
	`state` text NOT NULL,
	`depends_on` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`started_at` text,
	`ended_at` text,
	`error` text,
	PRIMARY KEY(`deployment_id`, `key`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `steps_state` ON `steps` (`deployment_id`,`state`);--> statement-breakpoint
CREATE TABLE `subnet_allocations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`pool_id` integer NOT NULL,
	`cidr` text NOT NULL,
	`deployment_id` text NOT NULL,
	`network` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`pool_id`) REFERENCES `cidr_pools`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subnet_allocations_cidr_unique` ON `subnet_allocations` (`cidr`);--> statement-breakpoint
CREATE INDEX `subnet_allocations_deployment` ON `subnet_allocations` (`deployment_id`);--> statement-breakpoint
CREATE TABLE `vlan_allocations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`vlan` integer NOT NULL,
	`deployment_id` text NOT NULL,
	`label` text NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `vlan_allocations_vlan_unique` ON `vlan_allocations` (`vlan`);--> statement-breakpoint
CREATE INDEX `vlan_allocations_deployment` ON `vlan_allocations` (`deployment_id`);--> statement-breakpoint
CREATE TABLE `vlan_pools` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`first` integer NOT NULL,
	`last` integer NOT NULL,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
