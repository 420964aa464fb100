CREATE TABLE `deployment_settings` (
	`deployment_id` text PRIMARY KEY NOT NULL,
	`owner_id` text,
	`idle_shutdown_minutes` integer,
	`ends_at` text,
	`warn_hours` integer DEFAULT 24 NOT NULL,
	`destroy_grace_hours` integer DEFAULT 24 NOT NULL,
	`expiry_stage` text DEFAULT 'none' NOT NULL,
	`last_activity_at` text,
	`last_busy_at` text,
	`idle_stopped_at` text,
	`trainee_testing_mode` integer DEFAULT false NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE TABLE `findings` (
	`id` integer PRIMARY KEY NOT NULL,
	`fingerprint` text NOT NULL,
	`kind` text NOT NULL,
	`platform_id` text NOT NULL,
	`deployment_id` text,
	`machine_key` text,
	`resource_name` text NOT NULL,
	`external_id` text,
	`message` text NOT NULL,
	`state` text DEFAULT 'open' NOT NULL,
	`first_seen_at` text NOT NULL,
	`last_seen_at` text NOT NULL,
	`resolved_at` text,
	`fix_state` text DEFAULT 'none' NOT NULL,
	`fix_attempts` integer DEFAULT 0 NOT NULL,
	`fix_at` text,
	`fix_detail` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `findings_open` ON `findings` (`fingerprint`) WHERE state = 'open';--> statement-breakpoint
CREATE INDEX `findings_state` ON `findings` (`state`,`kind`);--> statement-breakpoint
CREATE INDEX `findings_deployment` ON `findings` (`deployment_id`);--> statement-breakpoint
CREATE TABLE `instance_snapshots` (
	`deployment_id` text NOT NULL,
	`instance` integer NOT NULL,
	`name` text NOT NULL,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL,
	`machines` text NOT NULL,
	`purpose` text NOT NULL,
	PRIMARY KEY(`deployment_id`, `instance`, `name`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `machine_health` (
	`deployment_id` text NOT NULL,
	`key` text NOT NULL,
	`power` text NOT NULL,
	`agent` text NOT NULL,
	`addresses` text NOT NULL,
	`router` text,
	`cpu_load` real,
	`running_since` text,
	`checked_at` text NOT NULL,
	`changed_at` text NOT NULL,
	PRIMARY KEY(`deployment_id`, `key`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `machine_power` (
	`deployment_id` text NOT NULL,
	`key` text NOT NULL,
	`desired` text NOT NULL,
	`reason` text NOT NULL,
	`set_by` text NOT NULL,
	`set_at` text NOT NULL,
	PRIMARY KEY(`deployment_id`, `key`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `overseer_jobs` (
	`name` text PRIMARY KEY NOT NULL,
	`lease_owner` text,
	`lease_until` integer,
	`running_since` text,
	`last_skip_at` text,
	`last_skip_reason` text,
	`runs` integer DEFAULT 0 NOT NULL,
	`skips` integer DEFAULT 0 NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `overseer_policies` (
	`platform_id` text PRIMARY KEY NOT NULL,
	`mode` text NOT NULL,
	`orphan_grace_minutes` integer NOT NULL,
	`updated_at` text NOT NULL,
	`updated_by` text NOT NULL,
	FOREIGN KEY (`platform_id`) REFERENCES `platforms`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `overseer_runs` (
	`id` integer PRIMARY KEY NOT NULL,
	`job` text NOT NULL,
	`started_at` text NOT NULL,
	`ended_at` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`result` text NOT NULL,
	`summary` text NOT NULL,
	`trigger` text NOT NULL,
	`by` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `overseer_runs_job` ON `overseer_runs` (`job`,`id`);--> statement-breakpoint
CREATE TABLE `quotas` (
	`user_id` text PRIMARY KEY NOT NULL,
	`machines` integer,
	`vcpus` integer,
	`memory_mb` integer,
	`deployments` integer,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `testing_modes` (
	`deployment_id` text NOT NULL,
	`instance` integer NOT NULL,
	`state` text NOT NULL,
	`allow_addresses` text NOT NULL,
	`allow_domains` text NOT NULL,
	`snapshot` text,
	`switched_by` text NOT NULL,
	`switched_at` text NOT NULL,
	`verified` text,
	PRIMARY KEY(`deployment_id`, `instance`),
	FOREIGN KEY (`deployment_id`) REFERENCES `deployments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `sim_machines` ADD `nics` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `sim_machines` ADD `cpu_load` real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sim_machines` ADD `guest` text;