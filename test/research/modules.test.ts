import { describe, expect, it } from 'vitest';
import {
  describeMachine,
  fromCatalogueModule,
  modulesForCve,
  suggestModules,
  type ModuleRef,
} from '../../server/research/modules.ts';

const catalogue: ModuleRef[] = [
  {
    id: 'redis-noauth',
    title: 'Redis without authentication',
    category: 'network-service',
    products: ['redis'],
    cwe: ['CWE-306'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'anon-ftp',
    title: 'Anonymous FTP with a readable secret',
    category: 'misconfiguration',
    products: ['vsftpd'],
    cwe: ['CWE-284'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'samba-guest',
    title: 'Samba share with guest write',
    category: 'misconfiguration',
    products: ['samba'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'nfs-root-squash',
    title: 'NFS export with no_root_squash',
    category: 'privilege-escalation',
    products: ['nfs-utils'],
    os: { families: ['debian'] },
  },
  {
    id: 'git-leak',
    title: 'Leaked .git folder in a web root',
    category: 'web',
    description: 'The web server serves the .git folder.',
    products: ['nginx', 'http_server'],
    os: { families: ['ubuntu', 'debian'] },
  },
  {
    id: 'mysql-root',
    title: 'MySQL root with no password',
    category: 'credentials',
    products: ['mysql'],
    os: { images: ['ubuntu-22.04', 'debian-12'] },
  },
  { id: 'kerberoast', title: 'Kerberoastable service account', category: 'ad', os: { families: ['windows'] } },
  {
    id: 'suid-find',
    title: 'SUID find',
    category: 'privilege-escalation',
    cwe: ['CWE-269'],
    os: { families: ['ubuntu', 'debian', 'kali'] },
  },
];

const ids = (xs: Array<{ module: ModuleRef }>) => xs.map((x) => x.module.id);

describe('describeMachine', () => {
  it('reads OS image, role and software from a sentence', () => {
    expect(describeMachine('A web server on Ubuntu 22.04.')).toMatchObject({
      image: 'ubuntu-22.04',
      family: 'ubuntu',
      roles: ['web server'],
      categories: ['web'],
    });
    expect(describeMachine('debian 12 file server with samba shares')).toMatchObject({
      image: 'debian-12',
      family: 'debian',
      roles: ['file server'],
    });
    expect(describeMachine('debian 12 file server with samba shares').products[0]).toBe('samba');
    expect(describeMachine('Windows Server 2022 domain controller')).toMatchObject({
      image: 'windows-server-2022',
      family: 'windows',
      roles: ['domain controller'],
    });
    expect(describeMachine('an Active Directory domain controller')).toMatchObject({
      family: 'windows',
      roles: ['domain controller'],
    });
    expect(describeMachine('a debian box running redis')).toMatchObject({ family: 'debian', products: ['redis'] });
    expect(describeMachine('a debian box running redis').image).toBeUndefined();
  });
});

describe('suggestModules', () => {
  it('keeps to modules of the machine’s OS and puts the software it names first', () => {
    const s = suggestModules('a debian 12 database server with mysql', catalogue, 3);
    expect(ids(s)).toEqual(['mysql-root', 'redis-noauth', 'anon-ftp']);
    expect(s[0]!.reasons).toEqual(['uses mysql', 'credentials module for a database server', 'supports debian-12']);
    expect(suggestModules('a file server on Ubuntu 22.04', catalogue).map((x) => x.module.id)).not.toContain(
      'nfs-root-squash',
    );
  });

  it('suggests AD modules for a domain controller and no Linux module', () => {
    expect(ids(suggestModules('Windows Server 2022 domain controller', catalogue))).toEqual(['kerberoast']);
  });

  it('matches words of titles and descriptions', () => {
    expect(ids(suggestModules('an ubuntu web server with a leaked .git folder', catalogue, 1))).toEqual(['git-leak']);
    expect(suggestModules('an ubuntu web server with a leaked .git folder', catalogue, 1)[0]!.reasons).toEqual([
      'uses http_server',
      'uses nginx',
      'web module for a web server',
      'mentions web, leaked, .git, folder',
      'supports ubuntu',
    ]);
  });

  it('is deterministic: same input, same order, ties by id', () => {
    const a = suggestModules('a kali machine', catalogue, 20);
    expect(ids(a)).toEqual(['suid-find']);
    const b = suggestModules('something', catalogue, 20);
    expect(ids(b)).toEqual([...catalogue.map((m) => m.id)].sort());
  });
});

describe('modulesForCve', () => {
  it('scores the CVE itself, then shared software, then shared weakness', () => {
    const m = modulesForCve(
      { id: 'CVE-2022-0543', cwes: ['CWE-862', 'CWE-306'], products: [{ vendor: 'redis', product: 'redis' }] },
      catalogue,
    );
    expect(m.map((x) => [x.module.id, x.score, x.reasons])).toEqual([
      [
        'redis-noauth',
        3,
        [
          { kind: 'product', product: 'redis' },
          { kind: 'cwe', cwe: 'CWE-306' },
        ],
      ],
    ]);
    expect(modulesForCve({ id: 'CVE-1', cwes: ['CWE-269'], products: [] }, catalogue).map((x) => x.module.id)).toEqual([
      'suid-find',
    ]);
    expect(modulesForCve({ id: 'CVE-1', cwes: [], products: [] }, catalogue)).toEqual([]);
  });
});

describe('fromCatalogueModule', () => {
  it('reads a Reaper module: references, OS keys and families, products from packages (templated ones too) and title', () => {
    const tomcat = {
      id: 'tomcat-default-credentials',
      title: 'Tomcat manager with default credentials',
      category: 'credentials',
      difficulty: 'easy',
      summary: 'The Tomcat manager accepts tomcat/tomcat.',
      references: { cwe: ['CWE-1392', 'CWE-798'], cve: [], links: ['https://tomcat.apache.org/'] },
      os: ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12'],
      vars: { 'ubuntu-22.04': { tomcat: 'tomcat9' }, ubuntu: { tomcat: 'tomcat10' }, debian: { tomcat: 'tomcat10' } },
      apply: { packages: ['{{os.tomcat}}', '{{os.tomcat}}-admin'], users: [], files: [], runcmd: [], afterBoot: [] },
      marking: 'not read',
    };
    expect(fromCatalogueModule(tomcat)).toEqual({
      id: 'tomcat-default-credentials',
      title: 'Tomcat manager with default credentials',
      category: 'credentials',
      difficulty: 'easy',
      description: 'The Tomcat manager accepts tomcat/tomcat.',
      cwe: ['CWE-1392', 'CWE-798'],
      cve: [],
      os: { families: [], images: ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12'] },
      products: ['tomcat'],
    });
    const ssh = fromCatalogueModule({
      id: 'outdated-openssh',
      title: 'Outdated OpenSSH (CVE-2024-6387, regreSSHion)',
      category: 'network-service',
      references: { cve: ['CVE-2024-6387'] },
      os: ['debian'],
      apply: {},
    });
    expect(ssh).toMatchObject({
      cve: ['CVE-2024-6387'],
      os: { families: ['debian'], images: [] },
      products: ['openssh'],
    });
    const web = fromCatalogueModule({
      id: 'sqli-web-app',
      title: 'SQL injection in a web app',
      category: 'web',
      os: ['ubuntu', 'debian'],
      apply: { packages: ['apache2', 'libapache2-mod-php', 'php-sqlite3', 'sqlite3'] },
    });
    expect(web.products).toEqual(['http_server', 'php', 'sqlite']);
    expect(suggestModules('a web server on Ubuntu 22.04', [web, ssh]).map((s) => s.module.id)).toEqual([
      'sqli-web-app',
    ]);
  });
});
