// scstd's cluster options and the key prefix they lead to (issue 16): checked before anything
// starts, each refusal naming the option and what was wrong.
import { describe, expect, it } from 'vitest';
import { clusterPrefix, checkNodeName, parseClusterOptions } from '../src/cluster/options.js';

describe('cluster options', () => {
  it('takes endpoints, node, TTL and prefix', () => {
    expect(parseClusterOptions({ cluster: 'http://127.0.0.1:2379, http://10.0.0.2:2379', node: 'gw-1', ttl: '7' })).toEqual({
      endpoints: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'],
      node: 'gw-1',
      ttlSeconds: 7,
      prefix: null,
    });
    expect(parseClusterOptions({ cluster: 'http://[::1]:2379', node: 'a', prefix: '/x/y' })).toMatchObject({ ttlSeconds: 5, prefix: '/x/y/' });
    // Without --node: the host name up to its first dot, which must itself be a valid name.
    const dflt = parseClusterOptions({ cluster: 'http://127.0.0.1:2379' });
    expect(typeof dflt === 'string' ? dflt : checkNodeName(dflt.node)).toBeNull();
  });

  it('refuses what would not work, naming the option', () => {
    expect(parseClusterOptions({ cluster: ' , ' })).toMatch(/^--cluster: no endpoint given/);
    expect(parseClusterOptions({ cluster: '127.0.0.1:2379', node: 'a' })).toMatch(/^--cluster: '127\.0\.0\.1:2379' is not of the form http:\/\/HOST:PORT/);
    expect(parseClusterOptions({ cluster: 'https://e:2379', node: 'a' })).toMatch(/TLS is not supported yet/);
    expect(parseClusterOptions({ cluster: 'http://e', node: 'a' })).toMatch(/not of the form/);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'a b' })).toMatch(/^--node: node name 'a b' is not valid/);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'a/b' })).toMatch(/^--node: /);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'x'.repeat(64) })).toMatch(/^--node: /);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'a', ttl: '1' })).toMatch(/^--cluster-ttl: '1' is not a whole number of seconds from 2 to 3600/);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'a', ttl: '2.5' })).toMatch(/^--cluster-ttl: /);
    expect(parseClusterOptions({ cluster: 'http://e:1', node: 'a', prefix: 'rel/' })).toMatch(/^--cluster-prefix: /);
  });

  it('derives the prefix from cluster_name, "default" when unset', () => {
    expect(clusterPrefix('', null)).toEqual({ name: 'default', prefix: '/scst-usermode/default/' });
    expect(clusterPrefix('prod-a', null)).toEqual({ name: 'prod-a', prefix: '/scst-usermode/prod-a/' });
    expect(clusterPrefix('prod-a', '/custom/')).toEqual({ name: 'prod-a', prefix: '/custom/' });
    expect(clusterPrefix('a/b', null)).toMatch(/cluster_name 'a\/b' cannot name a cluster/);
    expect(clusterPrefix('a b', null)).toMatch(/cannot name a cluster/);
  });
});
